"""Notices by email through a real SMTP server."""
from portal import mail
from portal.mfa import service as mfa
from tests.authenticator import totp_code


def test_mfa_activation_and_reset_are_emailed(app, smtp_server, make_employee, admin, frozen_clock):
    employee = make_employee(username="ann", email="ann@example.com")
    enrolment = mfa.prepare(employee)
    mfa.activate(employee, enrolment.credential.id, totp_code(enrolment.secret))
    mfa.reset(employee, actor=admin, reason="lost phone")
    assert [m["To"] for m in smtp_server] == ["ann@example.com", "ann@example.com"]
    assert smtp_server[0]["Subject"] == "Multi-factor authentication is on for your account"
    reset = smtp_server[1]
    assert reset["Subject"] == "Your multi-factor authentication was reset"
    body = reset.get_content()
    assert "Reason given: lost phone" in body and "Ada Admin" in body
    assert enrolment.secret not in body and enrolment.secret not in smtp_server[0].get_content()


def test_no_email_address_no_mail(app, smtp_server, make_employee, admin):
    employee = make_employee(username="noaddr", email=None)
    mfa.reset(employee, actor=admin, reason="test")
    assert smtp_server == []


def test_a_dead_mail_server_does_not_break_the_action(app, make_employee, admin):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_TIMEOUT=2)
    try:
        with app.test_request_context():
            assert mail.send("x@example.com", "Subject", "email/mfa_activated.txt",
                             employee=admin, when=admin.created_at) is False
    finally:
        app.config.update(MAIL_SERVER="", MAIL_PORT=25)


def test_without_a_mail_server_development_writes_to_the_console(app, admin, capsys):
    app.config["MAIL_CONSOLE"] = True
    try:
        with app.test_request_context():
            assert mail.send("x@example.com", "Hello", "email/mfa_activated.txt", employee=admin,
                             when=admin.created_at)
    finally:
        app.config["MAIL_CONSOLE"] = False
    assert "Subject: Hello" in capsys.readouterr().err


def test_without_a_mail_server_production_sends_nothing_and_logs_no_content(app, admin, capsys, caplog):
    with app.test_request_context():
        assert not mail.send("x@example.com", "Hello", "email/mfa_activated.txt", employee=admin,
                             when=admin.created_at)
    assert admin.full_name not in capsys.readouterr().err + caplog.text
    assert "was not sent" in caplog.text


def test_enrolment_code_is_shown_to_the_administrator_when_it_cannot_be_emailed(app, admin, make_employee):
    from portal import settings

    settings.save({"mfa.require_enrolment_code": True})
    employee = make_employee(username="ann", email="ann@example.com")
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_TIMEOUT=2)
    try:
        code = mfa.reset(employee, actor=admin, reason="lost phone")
    finally:
        app.config.update(MAIL_SERVER="", MAIL_PORT=25)
    assert code is not None and len(code) == 11


def test_using_a_recovery_code_is_emailed(app, client, smtp_server, make_employee, frozen_clock):
    from portal import settings
    from tests.conftest import log_in, post_form

    settings.save({"mfa.status": True, "mfa.mode": "mandatory"})
    employee = make_employee(username="ann", email="ann@example.com")
    enrolment = mfa.prepare(employee)
    codes = mfa.activate(employee, enrolment.credential.id, totp_code(enrolment.secret))
    log_in(client, "ann")
    post_form(client, "/login/verify", {"method": "recovery", "code": codes[0]}, form_url="/login/verify")
    notice = smtp_server[-1]
    assert notice["Subject"] == "A recovery code was used on your account"
    assert "9 recovery codes remain" in notice.get_content() and codes[0] not in notice.get_content()
