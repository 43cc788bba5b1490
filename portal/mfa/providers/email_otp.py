"""Email OTP: a code sent to the employee's registered address.

NIST SP 800-63B does not accept email as an authentication factor; the portal
offers it because the business asks for it (seed 004), off by default, and
always lists the authenticator app first (docs/security.md).
"""
import string
from datetime import datetime, timedelta

from portal import mail
from portal.mfa.providers import sent_code
from portal.mfa.settings import SentCodeSettings
from portal.models import Employee

NAME = "email"
PLACEHOLDERS = frozenset({"code", "name", "minutes"})


def unknown_placeholders(template: str) -> set[str]:
    """Placeholders in a template other than {code}, {name}, {minutes} (a field error in Sys Config)."""
    try:
        names = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError:
        return {"(unbalanced braces)"}
    return names - PLACEHOLDERS


def masked_address(address: str) -> str:
    """a•••@example.com: enough for the employee to recognise it, not enough to harvest it."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


def send(employee: Employee, purpose: str, binding: str, cfg: SentCodeSettings, now: datetime) -> bool:
    """Issue a code for this browser and email it; False when there is no address or mail failed."""
    if not employee.email:
        return False
    code = sent_code.issue(employee.id, NAME, purpose, binding, cfg.length,
                           timedelta(minutes=cfg.validity_minutes), now)
    values = {"code": code, "name": employee.full_name, "minutes": cfg.validity_minutes}
    return mail.send_text(employee.email, cfg.subject.format_map(values), cfg.body.format_map(values))
