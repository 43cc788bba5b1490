"""The authenticator-app provider against RFC 6238 Appendix B and its drift window."""
import base64
from datetime import UTC, datetime, timedelta

import pytest

from portal.extensions import db
from portal.mfa.providers import totp
from portal.mfa.providers.totp import TotpParameters
from portal.models import MfaCredential
from portal.security import secret_box

# RFC 6238 Appendix A seeds: 20-, 32- and 64-byte ASCII keys.
SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
VECTORS = [  # (Unix time, SHA1, SHA256, SHA512), 8 digits
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
CASES = [(t, alg, code) for t, *codes in VECTORS for alg, code in zip(SEEDS, codes, strict=True)]


def _secret(algorithm: str) -> str:
    return base64.b32encode(SEEDS[algorithm]).decode()


def _at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC).replace(tzinfo=None)


@pytest.mark.parametrize(("unix", "algorithm", "code"), CASES)
def test_rfc6238_vectors_pass_the_portal_verification_path(admin, unix, algorithm, code):
    """Stored encrypted like a real enrolment, checked and claimed by the same code as sign-in."""
    params = TotpParameters(digits=8, algorithm=algorithm, period=30)
    credential = MfaCredential(employee_id=admin.id, provider="totp", status="active", digits=8,
                               algorithm=algorithm, period=30,
                               secret_encrypted=secret_box.encrypt(_secret(algorithm)))
    db.session.add(credential)
    db.session.flush()
    assert totp.matching_step(_secret(algorithm), params, code, _at(unix), drift=0) == unix // 30
    assert not totp.check(credential, code, _at(unix + 30), drift=0)
    assert totp.check(credential, code, _at(unix), drift=0)
    db.session.rollback()


def test_drift_accepts_exactly_the_configured_steps_either_side(app):
    params = TotpParameters()
    secret = totp.new_secret()
    now = datetime(2026, 11, 27, 12, 0, 0)
    for drift in (0, 1, 3):
        for offset in range(-5, 6):
            code = totp._totp(secret, params).at(now + timedelta(seconds=30 * offset))
            accepted = totp.matching_step(secret, params, code, now, drift) is not None
            assert accepted == (abs(offset) <= drift), (drift, offset)


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", None])
def test_malformed_codes_never_match(app, code):
    assert totp.matching_step(totp.new_secret(), TotpParameters(), code, datetime(2026, 1, 1), 10) is None


def test_secrets_have_at_least_160_bits_and_differ(app):
    secrets = {totp.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(len(base64.b32decode(s)) >= 20 for s in secrets)


def test_a_step_is_claimed_once(app, admin):
    enrolment = totp.prepare(admin.id, TotpParameters(), "admin", "Back Office")
    now = datetime(2026, 11, 27, 12, 0, 0)
    code = totp._totp(enrolment.secret, TotpParameters()).at(now)
    assert totp.check(enrolment.credential, code, now, drift=1)
    assert not totp.check(enrolment.credential, code, now, drift=1)
    earlier = totp._totp(enrolment.secret, TotpParameters()).at(now - timedelta(seconds=30))
    assert not totp.check(enrolment.credential, earlier, now, drift=1)
    db.session.rollback()


def test_provisioning_uri_carries_issuer_account_and_parameters():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", TotpParameters(8, "SHA256", 60), "ann.lee", "Shop HQ")
    assert uri == ("otpauth://totp/Shop%20HQ:ann.lee?secret=JBSWY3DPEHPK3PXP&issuer=Shop%20HQ"
                   "&algorithm=SHA256&digits=8&period=60")
