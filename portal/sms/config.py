"""Reading and saving the SMS gateway settings (Sys Config › SMS Gateway).

The password and the extra HTTP headers are stored encrypted (secret_box) and never
given back to a page: a page learns only whether a password is stored and the names
of the stored headers. Saving audits old → new for every other field, and only
"changed" for a secret.
"""
import re
from typing import Any

from portal.extensions import db
from portal.models import SmsGateway
from portal.models.sms_gateway import SINGLE_ROW_ID
from portal.security import secret_box
from portal.security.audit import record_event
from portal.sms.templates import TemplateError

# Every field saved as typed, in form order; the secrets are handled apart.
PLAIN_FIELDS = (
    "active", "url", "method", "sender_id", "content_type", "request_template", "success_status", "success_text",
    "failed_text", "username", "verify_tls", "proxy_url", "phone_pattern", "otp_template",
)
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
# Headers that the HTTP client sets itself and that a configured value would only break.
RESERVED_HEADERS = {"content-length", "transfer-encoding", "host", "connection"}


def get_gateway() -> SmsGateway:
    """The stored configuration, or an unsaved one holding the defaults."""
    gateway = db.session.get(SmsGateway, SINGLE_ROW_ID)
    if gateway is None:
        gateway = SmsGateway()
        for column in SmsGateway.__table__.columns:
            if column.default is not None and column.default.is_scalar:
                setattr(gateway, column.key, column.default.arg)
    return gateway


def parse_headers(text: str) -> list[tuple[str, str]]:
    """'Name: value' lines → pairs; raises TemplateError (fit for a field error) on a bad line."""
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not HEADER_NAME.match(name):
            raise TemplateError(f"Line {number}: write one header per line as Name: value.")
        if name.lower() in RESERVED_HEADERS:
            raise TemplateError(f"Line {number}: {name} is set by the portal itself.")
        if any(ord(c) < 32 and c != "\t" for c in value):
            raise TemplateError(f"Line {number}: the value holds a control character.")
        pairs.append((name, value))
    return pairs


def stored_headers(gateway: SmsGateway) -> list[tuple[str, str]]:
    return parse_headers(secret_box.decrypt(gateway.headers_encrypted)) if gateway.headers_encrypted else []


def stored_password(gateway: SmsGateway) -> str:
    return secret_box.decrypt(gateway.password_encrypted) if gateway.password_encrypted else ""


def header_names(gateway: SmsGateway) -> list[str] | None:
    """The names of the stored headers (never their values); None when they cannot be decrypted."""
    try:
        return [name for name, _ in stored_headers(gateway)]
    except secret_box.SecretBoxError:
        return None


def save_gateway(values: dict[str, Any], *, password: str | None = None, headers: str | None = None,
                 actor=None) -> list[str]:
    """Save the plain fields in `values`; `password`/`headers`: None keeps the stored secret,
    "" clears it, other text replaces it. One audit row; returns the names of what changed."""
    gateway = get_gateway()
    details: dict[str, Any] = {}
    for name in PLAIN_FIELDS:
        if name in values and getattr(gateway, name) != values[name]:
            details[name] = {"old": getattr(gateway, name), "new": values[name]}
            setattr(gateway, name, values[name])
    for name, column, new, current in (
        ("password", "password_encrypted", password, _readable(stored_password, gateway)),
        ("headers", "headers_encrypted", headers, _readable(_header_text, gateway)),
    ):
        if new is None or new == current:
            continue
        setattr(gateway, column, secret_box.encrypt(new) if new else None)
        details[name] = "changed"
    if details:
        gateway.updated_by_id = getattr(actor, "id", None)
        db.session.add(gateway)
        record_event("sms.gateway_changed", actor=actor, details=details)
        db.session.commit()
    return list(details)


def _header_text(gateway: SmsGateway) -> str:
    return "\n".join(f"{name}: {value}" for name, value in stored_headers(gateway))


def _readable(read, gateway: SmsGateway) -> str | None:
    """The stored secret, or None when no configured key opens it (any new value replaces it)."""
    try:
        return read(gateway)
    except secret_box.SecretBoxError:
        return None
