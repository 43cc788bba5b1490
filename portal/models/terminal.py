"""POS terminals (File Maintenance › POS Terminals), the physical device linked to each,
who may use them, and the client log their devices send."""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from portal.clock import utcnow
from portal.extensions import db
from portal.models.employee import SEARCH_TEXT_SEPARATOR, search_key

# Employees named on a terminal (besides those allowed by its minimum status level).
terminal_employee = Table(
    "pos_terminal_employee",
    db.metadata,
    Column("terminal_id", ForeignKey("pos_terminal.id", ondelete="CASCADE"), primary_key=True),
    Column("employee_id", ForeignKey("employee.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class PosTerminal(db.Model):
    __tablename__ = "pos_terminal"
    __table_args__ = (
        CheckConstraint("min_status_level IS NULL OR min_status_level BETWEEN 1 AND 9",
                        name="min_status_level_range"),
        # The list is ordered by name and filtered on search_text: read off this index alone.
        Index("ix_pos_terminal_name_key_search_text", "name_key", "search_text"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    name_key: Mapped[str] = mapped_column(String(120))
    store: Mapped[str] = mapped_column(String(120), default="")
    # The code a person types when linking a device; unique without regard to case.
    key_identifier: Mapped[str] = mapped_column(String(64))
    key_lookup: Mapped[str] = mapped_column(String(64), unique=True)
    search_text: Mapped[str] = mapped_column(Text)
    # Employees with at least this status level may use the terminal (None: only those named).
    min_status_level: Mapped[int | None]

    # "Is linked to a physical device": set only by an atomic update (portal.services.pos_devices).
    is_linked: Mapped[bool] = mapped_column(default=False)
    device_token_hash: Mapped[str | None] = mapped_column(String(64))
    linked_at: Mapped[datetime | None]
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("employee.id", ondelete="SET NULL"))
    last_seen_at: Mapped[datetime | None]
    # Last use through the old /pos?terminal= address (device security off), at most a minute old.
    legacy_seen_at: Mapped[datetime | None]
    # The last time two cache session IDs were active within one hour: {"at", "ids"}.
    cache_warning: Mapped[dict | None] = mapped_column(JSON)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    linked_by = relationship("Employee", foreign_keys=[linked_by_id])
    employees = relationship("Employee", secondary=terminal_employee, order_by="Employee.username_key")

    @validates("name", "store", "key_identifier")
    def _keep_keys(self, field: str, value: str) -> str:
        value = (value or "").strip()
        parts = {"name": self.name, "store": self.store, "key_identifier": self.key_identifier} | {field: value}
        self.name_key = search_key(parts["name"] or "")
        self.key_lookup = search_key(parts["key_identifier"] or "")
        self.search_text = SEARCH_TEXT_SEPARATOR.join(search_key(parts[k] or "") for k in
                                                      ("name", "store", "key_identifier"))
        return value

    def __repr__(self) -> str:
        return f"<PosTerminal {self.key_identifier}>"


LOG_LEVELS = ("debug", "info", "warning", "error")


class PosClientLog(db.Model):
    """One record of a terminal's client log, as its device sent it."""

    __tablename__ = "pos_client_log"
    # Listed newest first per terminal, optionally narrowed by level or cache session ID.
    __table_args__ = (
        Index("ix_pos_client_log_terminal_id_id", "terminal_id", "id"),
        Index("ix_pos_client_log_terminal_id_level_id", "terminal_id", "level", "id"),
        Index("ix_pos_client_log_terminal_id_cache_session_id_id", "terminal_id", "cache_session_id", "id"),
        Index("ix_pos_client_log_terminal_id_received_at", "terminal_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("pos_terminal.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    logged_at: Mapped[datetime | None]  # the device's own clock, as sent
    level: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(String(1000))
    cache_session_id: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(45))
