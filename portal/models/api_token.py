"""API tokens issued to employees for external services (POST /api/token): the mobile app and
the others listed in Sys Config (the list itself is a setting, see portal/services/api_tokens.py)."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import db


class ApiToken(db.Model):
    """A bearer token: shown once at issue, stored as a SHA-256 digest, until it expires or is revoked."""

    __tablename__ = "api_token"
    # An employee's tokens, newest first (My profile, Employee maintenance › Edit).
    __table_args__ = (Index("ix_api_token_employee_id_created_at", "employee_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(64))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]  # written at most once a minute
    created_address: Mapped[str | None] = mapped_column(String(45))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    # A digest of the employee's session token at issue: a password change or Reset MFA that
    # lands while the token is being issued still ends it (the session token rotates).
    session_mark: Mapped[str] = mapped_column(String(16), default="")
    # Issued after a second factor: only such a token outlives "Enable MFA for the mobile app"
    # being switched on, and only such a token opens administrators' calls.
    mfa_verified: Mapped[bool] = mapped_column(default=False)

    employee = relationship("Employee")

    def is_valid(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now
