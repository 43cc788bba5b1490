"""The SMS gateway configuration (Sys Config › SMS Gateway): one row, id 1.

Secrets (the password and the extra HTTP headers, which usually carry an API key)
are secret_box tokens; `portal/cli.py` lists their columns for `rotate-mfa-keys`.
"""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db

SINGLE_ROW_ID = 1
FORM = "form"
JSON = "json"
DEFAULT_OTP_TEMPLATE = "Your Back Office code is {code}. It expires in {minutes} minutes."


class SmsGateway(db.Model):
    __tablename__ = "sms_gateway"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=SINGLE_ROW_ID, autoincrement=False)
    active: Mapped[bool] = mapped_column(default=False)
    url: Mapped[str] = mapped_column(String(2000), default="")
    method: Mapped[str] = mapped_column(String(8), default="POST")
    sender_id: Mapped[str] = mapped_column(String(64), default="")
    # Placeholders {to}, {message}, {sender}; `content_type` says how it is read and sent.
    request_template: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str] = mapped_column(String(16), default=FORM)
    success_status: Mapped[int] = mapped_column(default=200)
    success_text: Mapped[str] = mapped_column(String(255), default="")
    failed_text: Mapped[str] = mapped_column(String(255), default="")
    username: Mapped[str] = mapped_column(String(255), default="")
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    # "Name: value" lines, encrypted as one token.
    headers_encrypted: Mapped[str | None] = mapped_column(Text)
    verify_tls: Mapped[bool] = mapped_column(default=True)
    proxy_url: Mapped[str] = mapped_column(String(2000), default="")
    # A regular expression the whole number (E.164, "+" and digits) must match; empty: any.
    phone_pattern: Mapped[str] = mapped_column(String(255), default="")
    # Placeholders {code}, {minutes}, {name}.
    otp_template: Mapped[str] = mapped_column(Text, default=DEFAULT_OTP_TEMPLATE)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("employee.id", ondelete="SET NULL"))
