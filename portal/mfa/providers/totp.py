"""Authenticator-app codes: TOTP (RFC 6238) through pyotp.

Verification finds the time step a code belongs to within the drift window
and then claims it with one conditional UPDATE (`last_used_step < step`), so a
code is accepted at most once, and no code of an earlier step after it, even
when many workers check the same code at the same moment.
"""
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import pyotp
import segno
from sqlalchemy import or_, update

from portal.extensions import db
from portal.models import MfaCredential
from portal.models.mfa import ACTIVE, PENDING
from portal.security import secret_box

NAME = "totp"
ALGORITHMS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation


@dataclass(frozen=True)
class TotpParameters:
    digits: int = 6
    algorithm: str = "SHA1"
    period: int = 30


@dataclass(frozen=True)
class Enrolment:
    """What the Signup popup shows: only while the credential is pending."""

    credential: MfaCredential
    secret: str
    uri: str

    @property
    def grouped_secret(self) -> str:
        return " ".join(self.secret[i:i + 4] for i in range(0, len(self.secret), 4))

    def qr_svg(self) -> str:
        return segno.make(self.uri, error="m").svg_inline(omitsize=True, dark="#000", light="#fff", title="QR code")


def new_secret() -> str:
    return pyotp.random_base32(length=SECRET_BYTES * 8 // 5)


def _totp(secret: str, params: TotpParameters) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=params.digits, digest=ALGORITHMS[params.algorithm], interval=params.period)


def provisioning_uri(secret: str, params: TotpParameters, account: str, issuer: str) -> str:
    label = quote(f"{issuer}:{account}", safe=":@")
    query = (f"secret={secret}&issuer={quote(issuer)}&algorithm={params.algorithm}"
             f"&digits={params.digits}&period={params.period}")
    return f"otpauth://totp/{label}?{query}"


def matching_step(secret: str, params: TotpParameters, code: str, now: datetime, drift: int) -> int | None:
    """The time step whose code equals `code`, within `drift` steps either side of now."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != params.digits or not code.isdigit():
        return None
    totp = _totp(secret, params)
    current = int(now.replace(tzinfo=UTC).timestamp()) // params.period
    found = None
    for step in range(current - drift, current + drift + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step  # keep looping: the time taken does not depend on which step matched
    return found


def parameters_of(credential: MfaCredential) -> TotpParameters:
    return TotpParameters(credential.digits, credential.algorithm, credential.period)


def prepare(employee_id: int, params: TotpParameters, account: str, issuer: str) -> Enrolment:
    """Replace any pending credential with a fresh secret; an active one stays in force."""
    db.session.execute(
        MfaCredential.__table__.delete().where(
            MfaCredential.employee_id == employee_id,
            MfaCredential.provider == NAME,
            MfaCredential.status == PENDING,
        )
    )
    secret = new_secret()
    credential = MfaCredential(
        employee_id=employee_id, provider=NAME, status=PENDING, secret_encrypted=secret_box.encrypt(secret),
        digits=params.digits, algorithm=params.algorithm, period=params.period,
    )
    db.session.add(credential)
    db.session.flush()
    return Enrolment(credential, secret, provisioning_uri(secret, params, account, issuer))


def enrolment_of(credential: MfaCredential, account: str, issuer: str) -> Enrolment:
    """Show a pending enrolment again (the popup was reloaded) without a new secret."""
    secret = secret_box.decrypt(credential.secret_encrypted)
    return Enrolment(credential, secret, provisioning_uri(secret, parameters_of(credential), account, issuer))


def claim_step(credential: MfaCredential, step: int, now: datetime) -> bool:
    """Atomically record `step` as used; False when it (or a later step) was used already."""
    result = db.session.execute(
        update(MfaCredential)
        .where(MfaCredential.id == credential.id,
               or_(MfaCredential.last_used_step.is_(None), MfaCredential.last_used_step < step))
        .values(last_used_step=step, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def check(credential: MfaCredential, code: str, now: datetime, drift: int) -> bool:
    """Verify a code against the credential and consume its time step."""
    secret = secret_box.decrypt(credential.secret_encrypted)
    step = matching_step(secret, parameters_of(credential), code, now, drift)
    return step is not None and claim_step(credential, step, now)


def credentials(employee_id: int, status: str = ACTIVE) -> list[MfaCredential]:
    return list(db.session.scalars(db.select(MfaCredential).where(
        MfaCredential.employee_id == employee_id, MfaCredential.provider == NAME, MfaCredential.status == status)))
