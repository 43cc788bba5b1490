"""Message templates with placeholders, `{code}`: checked on save, filled in on send.

Used by the Email OTP texts (Sys Config › MFA methods) and the SMS Gateway's request data
and OTP message. Substitution is one pass, so a value holding braces is never read as a
placeholder, and text in braces that is not a word is left as written.
"""
import re
from collections.abc import Iterable, Mapping

PLACEHOLDER = re.compile(r"\{(\w+)\}")
OTP_PLACEHOLDERS = ("code", "minutes", "name")


class TemplateError(ValueError):
    """A template that cannot be used; the message is fit for a field error."""


def placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def check_placeholders(text: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    unknown = sorted({name for name in placeholders(text) if name not in allowed})
    if unknown:
        names = ", ".join("{" + n + "}" for n in unknown)
        known = ", ".join("{" + n + "}" for n in allowed)
        raise TemplateError(f"Unknown placeholder {names}: use {known}.")


def fill(text: str, values: Mapping[str, str]) -> str:
    """Substitute known placeholders in one pass; anything else is left as written."""
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


def check_otp_template(template: str) -> None:
    if "{code}" not in template:
        raise TemplateError("The message must contain {code}.")
    check_placeholders(template, OTP_PLACEHOLDERS)


def render_otp(template: str, code: str, minutes: int, name: str) -> str:
    return fill(template, {"code": code, "minutes": str(minutes), "name": name})
