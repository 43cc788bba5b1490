"""Email OTP: a code sent to the employee's registered address.

NIST SP 800-63B does not accept email as an authentication factor; the portal
offers it because the business asks for it (seed 004), off by default, and
always lists the authenticator app first (docs/security.md).
"""
from portal import mail
from portal.message_templates import render_otp
from portal.mfa.settings import SentCodeSettings
from portal.models import Employee

NAME = "email"
FAILURE_MESSAGE = "We couldn't send the code by email. Try another method or contact your administrator."


def masked_address(address: str) -> str:
    """a•••@example.com: enough for the employee to recognise it, not enough to harvest it."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


def can_receive(employee: Employee) -> bool:
    return bool(employee.email)


def destination(employee: Employee) -> str:
    return masked_address(employee.email)


def deliver(employee: Employee, code: str, cfg: SentCodeSettings) -> bool:
    subject, body = (render_otp(text, code, cfg.validity_minutes, employee.full_name)
                     for text in (cfg.subject, cfg.body))
    return mail.send_text(employee.email, subject, body)
