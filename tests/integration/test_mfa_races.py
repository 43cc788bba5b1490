"""One code, many simultaneous submissions: exactly one sign-in (DESIGN.md §6.2)."""
import threading
from datetime import timedelta

import pytest

from portal import settings
from portal.mfa import service as mfa
from portal.mfa.providers import recovery_codes, totp
from portal.models import UserSession
from tests.authenticator import totp_code
from tests.conftest import csrf_token, log_in

PARALLEL = 30

@pytest.fixture
def enrolled(db, make_employee, frozen_clock):
    settings.save({"mfa.status": True, "mfa.mode": "mandatory", "mfa.failed_limit": 100})
    employee = make_employee(username="racer")
    enrolment = mfa.prepare(employee)
    codes = mfa.activate(employee, enrolment.credential.id, totp_code(enrolment.secret))
    return employee, enrolment.secret, codes

def _race(app, form: dict) -> list[int]:
    """PARALLEL pending sessions submit `form` at the same moment; returns their status codes."""
    clients = []
    for _ in range(PARALLEL):
        client = app.test_client()
        log_in(client, "racer")
        clients.append((client, csrf_token(client, "/login/verify")))
    barrier = threading.Barrier(PARALLEL)
    statuses: list[int] = []

    def submit(client, token):
        barrier.wait()
        statuses.append(client.post("/login/verify", data={"csrf_token": token, **form}).status_code)

    threads = [threading.Thread(target=submit, args=pair) for pair in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return statuses

def test_one_app_code_sent_thirty_times_at_once_opens_one_session(app, db, enrolled, frozen_clock):
    employee, secret, _codes = enrolled

    frozen_clock.advance(timedelta(seconds=30))  # a step after the one used at activation
    statuses = _race(app, {"method": "totp", "code": totp_code(secret)})
    assert sorted(statuses) == [200] * (PARALLEL - 1) + [302]
    sessions = db.session.scalars(db.select(UserSession).where(UserSession.employee_id == employee.id)).all()
    assert len(sessions) == 1

def test_one_recovery_code_sent_thirty_times_at_once_opens_one_session(app, db, enrolled):
    employee, _secret, codes = enrolled
    statuses = _race(app, {"method": "recovery", "code": codes[0]})
    assert statuses.count(302) == 1 and len(statuses) == PARALLEL
    assert recovery_codes.remaining(employee.id) == 9
    assert totp.credentials(employee.id)


def test_thirty_wrong_codes_at_once_count_thirty_failures(app, db, enrolled):
    employee, secret, _codes = enrolled
    statuses = _race(app, {"method": "totp", "code": "000000" if totp_code(secret) != "000000" else "111111"})
    assert statuses == [200] * PARALLEL
    db.session.refresh(employee)
    assert employee.mfa_failed_count == PARALLEL  # the fixture's limit is 100: no lock yet


def test_thirty_wrong_codes_at_once_against_a_limit_of_five_lose_no_failure_and_no_lock(app, db, enrolled):
    """Locks reached by requests that loaded the employee before another request's lock still
    escalate: every counted failure is either in the counter or in a lock, each lock audited once."""
    from portal.models import AuditEvent

    employee, secret, _codes = enrolled
    settings.save({"mfa.failed_limit": 5})
    _race(app, {"method": "totp", "code": "000000" if totp_code(secret) != "000000" else "111111"})
    db.session.refresh(employee)
    events = [e.event for e in db.session.scalars(db.select(AuditEvent).where(AuditEvent.subject_id == employee.id))]
    assert events.count("mfa.verify_failed") == employee.mfa_failed_count + 5 * employee.mfa_lockout_count
    assert events.count("mfa.locked") == employee.mfa_lockout_count >= 1


def test_a_lock_another_worker_committed_after_this_request_loaded_the_employee_is_reported(db, enrolled,
                                                                                            frozen_clock):
    import sqlalchemy as sa

    employee, _secret, _codes = enrolled
    db.session.commit()
    assert not employee.is_second_step_locked(frozen_clock.utcnow())  # loaded now, unlocked
    until = frozen_clock.utcnow() + timedelta(minutes=15)
    with db.engine.begin() as other_worker:
        other_worker.execute(sa.text("UPDATE employee SET mfa_locked_until = :until, mfa_lockout_count = 1 "
                                     "WHERE id = :id"), {"until": until, "id": employee.id})
    result = mfa.verify(employee, "totp", "000000")
    assert not result.ok and result.locked_until == until


def test_a_wrong_sent_code_and_a_new_send_at_the_same_moment_both_finish(app, db, make_employee, smtp_server,
                                                                         frozen_clock, monkeypatch):
    """Checking a sent code writes the code's row, then the employee's (the failure); sending one
    writes the employee's row and the codes'. In opposite orders the two would wait on each other
    and PostgreSQL would abort one (a 500). The check is held after writing the code's row until
    the send is under way."""
    import time

    from portal.mfa.providers import sent_code
    from portal.models import Employee
    from tests.integration.test_email_otp import signed_up_by_email

    settings.save({"mfa.status": True, "mfa.methods.email": True, "mfa.failed_limit": 100})
    ann = make_employee(username="ann", email="ann@example.com")
    signed_up_by_email(ann, smtp_server)
    frozen_clock.advance(timedelta(minutes=1))
    sent = mfa.send_challenge_code(ann, "email", mfa.POS_LINK)  # an open code for this client
    binding = mfa.challenge_binding(mfa.POS_LINK, sent.challenge)
    frozen_clock.advance(timedelta(seconds=31))  # the next send is allowed
    ann_id = ann.id
    db.session.commit()

    checked = sent_code.check
    checking = threading.Event()

    def held_check(*args, **kwargs):
        result = checked(*args, **kwargs)  # the code's row is written (and locked) now
        if threading.current_thread().name == "verify":
            checking.set()
            time.sleep(0.5)
        return result

    monkeypatch.setattr(sent_code, "check", held_check)
    outcomes, errors = {}, []

    def verify():
        with app.app_context():
            try:
                outcomes["verify"] = mfa.verify(db.session.get(Employee, ann_id), "email", "000000", binding=binding)
            except Exception as error:  # noqa: BLE001 - what the request would have answered with a 500
                errors.append(error)

    def send():
        assert checking.wait(10)
        with app.app_context():
            try:
                outcomes["send"] = mfa.send_code(db.session.get(Employee, ann_id), "email", binding)
            except Exception as error:  # noqa: BLE001
                errors.append(error)

    threads = [threading.Thread(target=verify, name="verify"), threading.Thread(target=send, name="send")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert outcomes["verify"].ok is False and outcomes["send"] == "a•••@example.com"
