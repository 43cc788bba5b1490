"""The audit log: one row per security event (DESIGN.md §6.7)."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import db


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    # Listing is newest first by id, optionally narrowed by one filter; each filter
    # has an index that ends in id so the page is read straight off the index.
    __table_args__ = (
        Index("ix_audit_event_event_id", "event", "id"),
        Index("ix_audit_event_actor_id_id", "actor_id", "id"),
        Index("ix_audit_event_subject_id_id", "subject_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("employee.id", ondelete="SET NULL"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("employee.id", ondelete="SET NULL"))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    client_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    actor = relationship("Employee", foreign_keys=[actor_id], lazy="joined")
    subject = relationship("Employee", foreign_keys=[subject_id], lazy="joined")
