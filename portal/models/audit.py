"""The audit log: one row per security event (DESIGN.md §6.7)."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import db


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    # The log is listed newest first by (occurred_at, id), optionally narrowed by an event,
    # an employee (as actor or as subject), a date range, or several at once. Each index
    # below ends in (occurred_at, id), so a page, whatever its filters, is read in order
    # straight off one index and stops after 51 rows: no sort of every matching row,
    # which at a million rows cost 0.3-0.4 s per page (see bench/bench_lists.py).
    __table_args__ = (
        Index("ix_audit_event_occurred_at_id", "occurred_at", "id"),
        Index("ix_audit_event_event_occurred_at_id", "event", "occurred_at", "id"),
        Index("ix_audit_event_actor_id_occurred_at_id", "actor_id", "occurred_at", "id"),
        Index("ix_audit_event_subject_id_occurred_at_id", "subject_id", "occurred_at", "id"),
        # An employee's events of one kind ("failed sign-ins of this till account"), which
        # for a busy account would otherwise mean reading all its events.
        Index("ix_audit_event_actor_id_event_occurred_at_id", "actor_id", "event", "occurred_at", "id"),
        Index("ix_audit_event_subject_id_event_occurred_at_id", "subject_id", "event", "occurred_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    event: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("employee.id", ondelete="SET NULL"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("employee.id", ondelete="SET NULL"))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    client_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    actor = relationship("Employee", foreign_keys=[actor_id], lazy="joined")
    subject = relationship("Employee", foreign_keys=[subject_id], lazy="joined")
