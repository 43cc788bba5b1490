"""Sending notices by email over SMTP (MAIL_* settings).

Without MAIL_SERVER a message is written to the console in development
(MAIL_CONSOLE) and not sent at all elsewhere.
A mail server that is down never breaks the action that sent the notice: the
failure is logged and reported to the caller as False.
"""
import smtplib
import ssl
import sys
from email.message import EmailMessage

from flask import current_app, render_template


def send(to: str, subject: str, template: str, **context) -> bool:
    """Send a notice rendered from a Jinja template under templates/email/."""
    return send_text(to, subject, render_template(template, **context))


def send_text(to: str, subject: str, body: str) -> bool:
    cfg = current_app.config
    message = EmailMessage()
    message["From"] = cfg["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if not cfg["MAIL_SERVER"]:
        if cfg["MAIL_CONSOLE"]:
            sys.stderr.write(f"--- mail (MAIL_SERVER not set, not sent) ---\n{message}\n---\n")
            return True
        current_app.logger.warning("MAIL_SERVER is not set: mail %r to %s was not sent", subject, to)
        return False
    try:
        with smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=cfg["MAIL_TIMEOUT"]) as smtp:
            if cfg["MAIL_USE_TLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if cfg["MAIL_USERNAME"]:
                smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        current_app.logger.warning("Mail %r to %s could not be sent: %s", subject, to, error)
        return False
    return True
