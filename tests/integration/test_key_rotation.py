"""Key rotation: `flask rotate-mfa-keys` and `flask generate-mfa-key` (DESIGN.md §6.4, docs/security.md)."""
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from portal import settings
from portal.mfa import service as mfa
from portal.models import MfaCredential
from portal.security import secret_box
from tests.authenticator import totp_code
from tests.conftest import log_in, post_form

NEWKEY = Fernet.generate_key().decode()
UNKNOWN_KEY = Fernet.generate_key().decode()


@pytest.fixture
def mfa_keys(app):
    """Set MFA_ENCRYPTION_KEYS for this test (dropping the cached MultiFernet); restored afterwards."""
    saved = app.config["MFA_ENCRYPTION_KEYS"]

    def use(*keys: str) -> None:
        app.config["MFA_ENCRYPTION_KEYS"] = ",".join(keys)
        app.extensions.pop("secret_box", None)

    yield use
    app.config["MFA_ENCRYPTION_KEYS"] = saved
    app.extensions.pop("secret_box", None)


@pytest.fixture
def old_key(app) -> str:
    """The suite's key: every secret enrolled by a test is encrypted with it."""
    return app.config["MFA_ENCRYPTION_KEYS"]


def enrol(employee) -> str:
    """An active enrolment made through the service, confirmed with an oathtool code; returns the secret."""
    enrolment = mfa.prepare(employee)
    secret = enrolment.secret
    assert mfa.activate(employee, enrolment.credential.id, totp_code(secret)) is not None
    return secret


def tokens(db) -> dict[int, str]:
    """Every stored ciphertext, by credential id, read afresh from the database."""
    db.session.rollback()
    return dict(db.session.execute(db.select(MfaCredential.id, MfaCredential.secret_encrypted)).all())


def flask(app, db, *args):
    db.session.commit()  # the command works in its own session; ours holds no transaction meanwhile
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.rollback()  # reload whatever the command changed
    return result


def can_verify(employee, secret, frozen_clock) -> bool:
    frozen_clock.advance(timedelta(seconds=30))  # a new time step: the last code was used already
    return mfa.verify(employee, "totp", totp_code(secret)).ok


def assert_clean_refusal(result, reason: str):
    """A non-zero exit with the reason in words, not a traceback."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert reason in result.output


def test_rotation_re_encrypts_active_and_pending_secrets_under_the_newest_key(
        app, db, make_employee, frozen_clock, mfa_keys, old_key, client):
    ann, bob = make_employee(username="ann"), make_employee(username="bob")
    ann_secret = enrol(ann)
    bob_enrolment = mfa.prepare(bob)  # Signup opened, not yet confirmed
    bob_secret = bob_enrolment.secret
    before = tokens(db)
    assert len(before) == 2

    mfa_keys(NEWKEY, old_key)
    result = flask(app, db, "rotate-mfa-keys")
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 2 secret(s)" in result.output

    after = tokens(db)
    assert after.keys() == before.keys()
    assert all(after[i] != before[i] for i in before)
    new_only = Fernet(NEWKEY)
    assert sorted(new_only.decrypt(t.encode()).decode() for t in after.values()) == sorted([ann_secret, bob_secret])
    assert can_verify(ann, ann_secret, frozen_clock)

    # the old key can now leave the configuration
    mfa_keys(NEWKEY)
    assert can_verify(ann, ann_secret, frozen_clock)
    assert mfa.pending_enrolment(bob, bob_enrolment.credential.id).secret == bob_secret
    frozen_clock.advance(timedelta(seconds=30))
    assert mfa.activate(bob, bob_enrolment.credential.id, totp_code(bob_secret)) is not None

    # and the whole sign-in still works through the real routes
    settings.save({"mfa.status": True, "mfa.mode": "mandatory"})
    frozen_clock.advance(timedelta(seconds=30))
    assert log_in(client, "ann").headers["Location"] == "/login/verify"
    response = post_form(client, "/login/verify", {"method": "totp", "code": totp_code(ann_secret)})
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_rotation_is_idempotent(app, db, make_employee, frozen_clock, mfa_keys, old_key):
    enrol(make_employee(username="ann"))
    mfa_keys(NEWKEY, old_key)
    assert "Re-encrypted 1 secret(s)" in flask(app, db, "rotate-mfa-keys").output
    rotated = tokens(db)

    result = flask(app, db, "rotate-mfa-keys")
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 0 secret(s) under the newest key; 1 already used it." in result.output
    assert tokens(db) == rotated


def test_rotation_walks_every_batch(app, db, make_employee, frozen_clock, mfa_keys, old_key):
    employees = [make_employee() for _ in range(5)]
    secrets = sorted(enrol(e) for e in employees)
    mfa_keys(NEWKEY, old_key)
    result = flask(app, db, "rotate-mfa-keys", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 5 secret(s)" in result.output
    assert sorted(Fernet(NEWKEY).decrypt(t.encode()).decode() for t in tokens(db).values()) == secrets


def test_a_secret_under_an_unknown_key_stops_the_rotation_before_any_change(
        app, db, make_employee, frozen_clock, mfa_keys, old_key):
    ann, bob = make_employee(username="ann"), make_employee(username="bob")
    ann_secret = enrol(ann)
    enrol(bob)
    stray = db.session.scalar(db.select(MfaCredential).where(MfaCredential.employee_id == bob.id))
    stray.secret_encrypted = Fernet(UNKNOWN_KEY).encrypt(b"JBSWY3DPEHPK3PXP").decode()
    stray_id = stray.id
    db.session.commit()
    before = tokens(db)

    mfa_keys(NEWKEY, old_key)
    result = flask(app, db, "rotate-mfa-keys", "--batch-size", "1")
    assert_clean_refusal(result, "cannot be decrypted with any key in MFA_ENCRYPTION_KEYS")
    assert f"mfa_credential id {stray_id}" in result.output and "Nothing was changed" in result.output
    assert "JBSWY3DPEHPK3PXP" not in result.output
    assert tokens(db) == before  # ann's secret, the readable one, was not re-encrypted either
    assert can_verify(ann, ann_secret, frozen_clock)


@pytest.mark.parametrize("keys, reason", [
    (" , ", "MFA_ENCRYPTION_KEYS holds no key"),
    (f"{NEWKEY},not-a-key", "Key number 2 of MFA_ENCRYPTION_KEYS is not a Fernet key"),
])
def test_a_broken_key_list_is_refused_clearly(app, db, make_employee, frozen_clock, mfa_keys, keys, reason):
    enrol(make_employee(username="ann"))
    before = tokens(db)
    mfa_keys(keys)
    assert_clean_refusal(flask(app, db, "rotate-mfa-keys"), reason)
    assert tokens(db) == before


def test_generate_mfa_key_prints_a_new_fernet_key_each_time(app, db):
    first, second = (flask(app, db, "generate-mfa-key") for _ in range(2))
    assert first.exit_code == 0 and second.exit_code == 0
    key = first.output.strip()
    assert key != second.output.strip()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"


def test_the_documented_procedure_end_to_end(app, db, make_employee, frozen_clock, mfa_keys, old_key):
    """docs/security.md › Key rotation: generate, put first, rotate, drop the old key."""
    ann = make_employee(username="ann")
    secret = enrol(ann)
    new_key = flask(app, db, "generate-mfa-key").output.strip()
    mfa_keys(new_key, old_key)
    assert can_verify(ann, secret, frozen_clock)  # both keys configured: old secrets still read
    assert flask(app, db, "rotate-mfa-keys").exit_code == 0
    mfa_keys(new_key)
    assert can_verify(ann, secret, frozen_clock)
    assert secret_box.decrypt(tokens(db).popitem()[1]) == secret
