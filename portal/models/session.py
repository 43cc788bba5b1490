"""Server-side session records: the source of truth for who is signed in."""
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import db


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


class UserSession(db.Model):
    __tablename__ = "user_session"
    __table_args__ = (Index("ix_user_session_employee_id_ended_at", "employee_id", "ended_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_session_id)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    client_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))

    employee = relationship("Employee")

    @property
    def is_ended(self) -> bool:
        return self.ended_at is not None

    def end(self, reason: str, now: datetime) -> None:
        if self.ended_at is None:
            self.ended_at = now
            self.end_reason = reason
