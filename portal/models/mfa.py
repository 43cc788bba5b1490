"""MFA credentials and recovery codes (DESIGN.md §5).

A credential belongs to one provider and keeps its own parameters, so changing
the Sys Config defaults never breaks an existing enrolment. A credential is
`pending` from prepare until a code from it is confirmed, then `active`; an
employee has at most one active and one pending credential per provider.
"""
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db

PENDING = "pending"
ACTIVE = "active"


class MfaCredential(db.Model):
    __tablename__ = "mfa_credential"
    __table_args__ = (Index("ix_mfa_credential_employee_id_status", "employee_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    # The authenticator app's secret; None for factors whose codes are sent (email, SMS).
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    digits: Mapped[int] = mapped_column(default=6)
    algorithm: Mapped[str] = mapped_column(String(16), default="SHA1")
    period: Mapped[int] = mapped_column(default=30)
    # The last accepted time step: a code of this step or an earlier one is refused.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class RecoveryCode(db.Model):
    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class MfaChallenge(db.Model):
    """A one-time code sent by email or SMS: single use, hashed, expiring, bound to the
    sign-in (or signup) of one browser; a resend voids the previous one."""

    __tablename__ = "mfa_challenge"
    __table_args__ = (Index("ix_mfa_challenge_employee_id_created_at", "employee_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))  # "signin" or "signup"
    binding: Mapped[str] = mapped_column(String(64))  # the browser's pending-state or session id
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None]  # used, voided by a resend, or out of attempts
