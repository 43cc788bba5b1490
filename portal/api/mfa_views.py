"""/api/mfa/: the MFA operations for external clients (seed 001), on the same MFA service as the pages.

Each call is made by a bearer token or by the signed-in browser with its CSRF token
(portal.api.auth). A pending enrolment is bound to whoever prepared it: the web keeps
its id in the session; here the client gets a signed handle naming the credential and
the token (or browser session) that prepared it, so another token of the same employee
can neither activate it nor learn its secret.
"""
import hashlib
from datetime import datetime

from flask import current_app, g, jsonify, request
from itsdangerous import BadData, URLSafeSerializer

from portal.api import bp
from portal.api.auth import api_auth
from portal.api.http import form_values
from portal.clock import utcnow
from portal.extensions import limiter
from portal.mfa import service as mfa
from portal.mfa import settings as mfa_settings
from portal.mfa.methods import METHODS
from portal.mfa.providers import totp
from portal.models import Employee, MfaCredential, StatusLevel
from portal.security.client import client_address
from portal.security.session_guard import current_session_record
from portal.security.signin import find_employee
from portal.services import api_tokens
from portal.services.api_tokens import MFA_REQUIRED, ApiRefusal

ENROLMENT_SALT = "api.mfa.enrolment"
CODE_LIMIT = "30 per minute"  # per client address, as the web's second step


def _may_enrol(employee: Employee) -> None:
    """Signup is for employees not signed up yet, while MFA Status is On."""
    status = mfa.status(employee)
    if not status.enabled:
        raise _mfa_disabled()
    if status.enrolled:
        raise ApiRefusal("alreadyenrolled",
                         "You are signed up for MFA already; only an administrator's Reset MFA clears it.", 409)


def _mfa_disabled() -> ApiRefusal:
    return ApiRefusal("mfadisabled", "Multi-factor authentication is off (Sys Config › MFA Status).", 403)


def _code_refused(locked_until: datetime | None) -> ApiRefusal:
    if locked_until is not None:
        return ApiRefusal("accountlocked", "Too many wrong codes. Try again later.", 403,
                          retry_after=locked_until.isoformat(timespec="seconds") + "Z")
    return ApiRefusal("invalidotp", "That code is not valid.", 401)


def _binding() -> str:
    """Who prepared an enrolment: this bearer token, or this browser's session."""
    token = g.get("api_token")
    if token is not None:
        return f"api-token:{token.id}"
    record = current_session_record()  # its id is kept from scripts: the handle names a digest
    return f"session:{hashlib.sha256(record.id.encode()).hexdigest()[:24]}" if record else ""


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=ENROLMENT_SALT)


def _fingerprint(credential: MfaCredential) -> str:
    """Tells this pending credential from a later one that reuses its id (SQLite reuses ids)."""
    return hashlib.sha256((credential.secret_encrypted or "").encode()).hexdigest()[:16]


def _enrolment_handle(credential: MfaCredential) -> str:
    return _serializer().dumps([credential.id, _binding(), _fingerprint(credential)])


def _pending_app_credential(employee: Employee, handle: str) -> MfaCredential | None:
    """The authenticator-app enrolment this caller prepared, or None."""
    try:
        credential_id, binding, fingerprint = _serializer().loads(handle)
    except (BadData, TypeError, ValueError):
        return None
    if binding != _binding() or not isinstance(credential_id, int):
        return None
    credential = mfa.pending_credential(employee, credential_id)
    if credential is None or credential.provider != totp.NAME or _fingerprint(credential) != fingerprint:
        return None
    return credential


@bp.get("/mfa/status")
@api_auth("status")
def mfa_status(employee: Employee):
    status = mfa.status(employee)
    methods = [{"name": m.name, "label": m.label, "enrolled": usable} for m, usable in mfa.methods_overview(employee)]
    return jsonify(
        mfa_enabled=status.enabled, mode="mandatory" if mfa_settings.current().mandatory else "optional",
        enrolled=status.enrolled, required_for_me=status.enabled and status.mandatory, methods=methods,
        recovery_codes_left=mfa.employee_mfa_summary(employee).recovery_codes_left if status.enrolled else None)


@bp.post("/mfa/prepare")
@limiter.limit("10 per minute")
@api_auth("signup")
def mfa_prepare(employee: Employee):
    """Signup for MFA with the authenticator app, as the Signup popup starts it."""
    data = form_values(optional=("enrolment_code",), max_length=32)
    _may_enrol(employee)
    if mfa.enrolment_code_required(employee) and "enrolment_code" not in data:
        raise ApiRefusal("enrolmentcoderequired", "Send the enrolment code your administrator gave you.", 403,
                         field="enrolment_code")
    try:
        enrolment = mfa.prepare(employee, data.get("enrolment_code"), client_address(), totp.NAME, _binding())
    except mfa.EnrolmentCodeRefused:
        raise ApiRefusal("enrolmentcoderefused", "That enrolment code is not valid or has expired.", 403,
                         field="enrolment_code") from None
    except mfa.CodeNotSent:
        raise ApiRefusal("methodnotavailable", "The authenticator app is not available to you.", 403) from None
    credential = enrolment.credential
    return jsonify(enrolment_id=_enrolment_handle(credential), otpauth_uri=enrolment.uri, secret=enrolment.secret,
                   secret_grouped=enrolment.grouped_secret, qr_svg=enrolment.qr_svg(), digits=credential.digits,
                   period=credential.period, algorithm=credential.algorithm)


@bp.post("/mfa/activate")
@limiter.limit(CODE_LIMIT)
@api_auth("signup")
def mfa_activate(employee: Employee):
    """Finish the enrolment with a code from the app; the recovery codes are shown this once."""
    data = form_values("enrolment_id", "code", max_length=512)
    _may_enrol(employee)
    credential = _pending_app_credential(employee, data["enrolment_id"])
    if credential is None:
        raise ApiRefusal("enrolmentnotfound", "No such enrolment of yours is pending: call prepare again.", 404,
                         field="enrolment_id")
    codes = mfa.activate(employee, credential.id, data["code"], client_address(), _binding())
    if codes is None:
        now = utcnow()
        raise _code_refused(employee.mfa_locked_until if employee.is_second_step_locked(now) else None)
    return jsonify(activated=True, recovery_codes=codes)


@bp.post("/mfa/send")
@limiter.limit("10 per minute")
@api_auth("verify")
def mfa_send(employee: Employee):
    """Send a code by email or SMS for /mfa/verify; it works only for this token (or browser session)."""
    data = form_values("method", max_length=64)
    if not mfa.status(employee).enabled:
        raise _mfa_disabled()
    now = utcnow()
    if employee.is_second_step_locked(now):
        raise _code_refused(employee.mfa_locked_until)
    refusal = api_tokens.method_refusal(employee, data["method"])
    if refusal is not None:
        raise refusal
    try:
        sent_to = mfa.send_code(employee, data["method"], _binding())
    except mfa.CodeNotSent as not_sent:
        raise api_tokens.not_sent_refusal(not_sent, now) from None
    return jsonify(method=data["method"], sent_to=sent_to, valid_minutes=mfa.sent_code_validity_minutes(data["method"]))


@bp.post("/mfa/verify")
@limiter.limit(CODE_LIMIT)
@api_auth("verify")
def mfa_verify(employee: Employee):
    """Check a code (counted against the lockout, each code accepted once)."""
    data = form_values("code", optional=("method",), max_length=64)
    if not mfa.status(employee).enabled:
        raise _mfa_disabled()
    method = data.get("method")
    if method is not None and method not in METHODS:
        raise ApiRefusal("invalidrequest", f"The field method must be one of {', '.join(METHODS)}.", 400,
                         field="method")
    if method is None:
        result = mfa.verify_typed_code(employee, data["code"], client_address())
    else:
        result = mfa.verify(employee, method, data["code"], client_address(), binding=_binding())
    if not result.ok:
        raise _code_refused(result.locked_until)
    return jsonify(valid=True, method=result.method, recovery_codes_left=result.recovery_codes_left)


@bp.get("/mfa/enforcement")
@api_auth("enforcement")
def mfa_enforcement(employee: Employee):
    """Administrators: would this employee have to use MFA to sign in (or to get a token)?"""
    if not employee.has_status(StatusLevel.ADMINISTRATOR):
        raise ApiRefusal("forbidden", "Only administrators may ask this.", 403)
    token = g.get("api_token")
    if token is not None and not token.mfa_verified and mfa.status(employee).must_use:
        # A password alone (a token from before MFA was asked) does not open administrators' calls.
        raise ApiRefusal("mfarequired", MFA_REQUIRED, 403)
    username = request.args.get("username", "")
    if not username.strip() or len(username) > 64:
        raise ApiRefusal("invalidrequest", "The parameter username is required (at most 64 characters).", 400,
                         field="username")
    subject = find_employee(username)
    if subject is None:
        raise ApiRefusal("notfound", "No employee has this username.", 404)
    status = mfa.status(subject)
    return jsonify(username=subject.username, must_use_mfa=status.must_use, enrolled=status.enrolled,
                   mfa_enabled=status.enabled)


mfa_enforcement.required_status = StatusLevel.ADMINISTRATOR  # for tests/integration/test_route_guards.py
