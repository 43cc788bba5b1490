"""Employees: the people who sign in to the back office."""
import secrets
from datetime import datetime
from enum import IntEnum

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, validates

from portal.clock import utcnow
from portal.extensions import db
from portal.models.dialect_only import postgresql_only


class StatusLevel(IntEnum):
    """Status levels of DESIGN.md §3: 1–4 staff, 5–8 managers, 9 administrators."""

    STAFF = 1
    MANAGER = 5
    ADMINISTRATOR = 9


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


# Between the fields of Employee.search_text: a character no search box sends, so a
# search never matches across the end of one field and the start of the next.
SEARCH_TEXT_SEPARATOR = "\n"


def search_key(text: str) -> str:
    """A search box's text or one field, as search_text holds it: trimmed and lower-cased.

    Lower-cased here, in Python, because SQLite's lower() folds ASCII only: str.lower()
    folds every script, so "łukasz" finds "Łukasz" on SQLite as on PostgreSQL."""
    return text.strip().lower()


def employee_search_text(username: str | None, full_name: str | None, email: str | None) -> str:
    """What Employee maintenance searches: username, full name and email, each search_key()ed.

    Whatever writes employee rows without the model (a Core insert, a migration) fills
    the column with this."""
    return SEARCH_TEXT_SEPARATOR.join(search_key(part or "") for part in (username, full_name, email))


class Employee(UserMixin, db.Model):
    __tablename__ = "employee"
    __table_args__ = (
        CheckConstraint("status_level BETWEEN 1 AND 9", name="status_level_range"),
        # Employee maintenance lists by username_key and filters on search_text: a search
        # reads this index alone, in list order, never the table rows (DESIGN.md §7). That is
        # how SQLite runs it (its indexes carry the rowid, which is the id).
        Index("ix_employee_username_key_search_text", "username_key", "search_text"),
        # PostgreSQL scans the whole of that index for a rare word, and reads table rows for a
        # page's ids: a trigram index finds the rows a LIKE '%word%' matches (words of three or
        # more letters), and a covering index gives a page's ids without the table.
        postgresql_only(Index("ix_employee_search_text_trgm", "search_text", postgresql_using="gin",
                              postgresql_ops={"search_text": "gin_trgm_ops"})),
        postgresql_only(Index("ix_employee_username_key_id", "username_key", postgresql_include=["id"])),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    # Lower-cased username: the unique key, so "Anna" and "anna" cannot both exist.
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(120), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    mobile_phone: Mapped[str | None] = mapped_column(String(20))
    # employee_search_text() of username, full name and email, kept by _keep_search_keys.
    search_text: Mapped[str] = mapped_column(Text)
    status_level: Mapped[int] = mapped_column(default=1)
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Flask-Login identifier in place of the primary key; rotating it ends every session.
    session_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_session_token)

    failed_login_count: Mapped[int] = mapped_column(default=0)
    lockout_count: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]

    # One failure counter for every second factor (DESIGN.md §6.3), apart from the password's.
    mfa_failed_count: Mapped[int] = mapped_column(default=0)
    mfa_lockout_count: Mapped[int] = mapped_column(default=0)
    mfa_locked_until: Mapped[datetime | None]
    mfa_last_failure_at: Mapped[datetime | None]
    mfa_last_failure_address: Mapped[str | None] = mapped_column(String(45))
    # After a Reset MFA with "require an enrolment code": the code's keyed hash and its end.
    mfa_enrolment_code_hash: Mapped[str | None] = mapped_column(String(64))
    mfa_enrolment_code_expires_at: Mapped[datetime | None]
    # Sys Config › Access policies: None follows the system settings.
    access_policy_id: Mapped[int | None] = mapped_column(ForeignKey("access_policy.id"), index=True)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    password_changed_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]

    @validates("username", "full_name", "email")
    def _keep_search_keys(self, key: str, value: str | None) -> str | None:
        """Keep username_key and search_text in step with the columns they are made of."""
        if key == "username":
            value = value.strip()
            self.username_key = value.lower()
        current = {"username": self.username, "full_name": self.full_name, "email": self.email}
        self.search_text = employee_search_text(**(current | {key: value}))
        return value

    def get_id(self) -> str:
        return self.session_token

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_administrator(self) -> bool:
        return self.status_level >= StatusLevel.ADMINISTRATOR

    def has_status(self, minimum: int) -> bool:
        return self.status_level >= minimum

    def rotate_session_token(self) -> None:
        """Invalidate every session signed in with the current token."""
        self.session_token = new_session_token()

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def is_second_step_locked(self, now: datetime) -> bool:
        return self.mfa_locked_until is not None and self.mfa_locked_until > now

    def __repr__(self) -> str:
        return f"<Employee {self.username}>"
