"""Email OTP: a code sent to the employee's registered address.

NIST SP 800-63B does not accept email as an authentication factor; the portal
offers it because the business asks for it (seed 004), off by default, and
always lists the authenticator app first (docs/security.md).
"""
import string

from portal import mail
from portal.mfa.settings import SentCodeSettings
from portal.models import Employee

NAME = "email"
PLACEHOLDERS = frozenset({"code", "name", "minutes"})
FAILURE_MESSAGE = "We couldn't send the code by email. Try another method or contact your administrator."


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


def can_receive(employee: Employee) -> bool:
    return bool(employee.email)


def destination(employee: Employee) -> str:
    return masked_address(employee.email)


def deliver(employee: Employee, code: str, cfg: SentCodeSettings) -> bool:
    values = {"code": code, "name": employee.full_name, "minutes": cfg.validity_minutes}
    return mail.send_text(employee.email, cfg.subject.format_map(values), cfg.body.format_map(values))
