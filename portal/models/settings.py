"""System-wide configuration (Sys Config) as typed key/value rows.

Defaults and types live in `portal.settings`; a row exists only once a value
has been changed, so new settings need no migration.
"""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db


class Setting(db.Model):
    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("employee.id", ondelete="SET NULL"))
