"""Seed 003's test steps, played by a client outside the browser: the `requests` library talks
HTTP to the portal on a live server, as the mobile app would, with oathtool as the
employee's authenticator app."""
from datetime import timedelta

import pytest
import requests

from portal import settings
from portal.mfa import service as mfa
from portal.services.api_tokens import MFA_REQUIRED, bearer_token, revoke_token
from tests.authenticator import totp_code

PASSWORD = "correct horse battery"


@pytest.fixture
def app_user(db, make_employee, frozen_clock):
    """MFA On (Optional) and an employee enrolled with an authenticator app."""
    settings.save({"mfa.status": True, "mfa.mode": "optional"})
    ann = make_employee(username="ann", status_level=1)
    enrolment = mfa.prepare(ann)
    mfa.activate(ann, enrolment.credential.id, totp_code(enrolment.secret))
    frozen_clock.advance(timedelta(seconds=30))
    return ann, enrolment.secret


def sign_in(base: str, **extra) -> requests.Response:
    return requests.post(f"{base}/api/token", timeout=10,
                         data={"username": "ann", "password": PASSWORD, "service": "mobile_app", **extra})


def mfa_status(base: str, token: str) -> requests.Response:
    return requests.get(f"{base}/api/mfa/status", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_the_mobile_app_signs_in_with_a_password_then_needs_a_code(live_server, db, app_user, admin, frozen_clock):
    ann, secret = app_user
    # "Enable MFA for the mobile app" is off: the app can log in with the password
    first = sign_in(live_server)
    assert first.status_code == 200 and first.json()["token_type"] == "Bearer"
    assert mfa_status(live_server, first.json()["token"]).json()["enrolled"] is True

    # the administrator ticks "Enable MFA for the mobile app": the password alone is refused
    settings.save({"mfa.mobile_app": True})
    refused = sign_in(live_server)
    assert refused.status_code == 403
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.json() == {"error": MFA_REQUIRED, "errorcode": "mfarequired",
                              "methods": ["totp", "recovery"]}

    # with the code from the authenticator app the token is issued, once per code
    code = totp_code(secret)
    with_code = sign_in(live_server, otp=code)
    assert with_code.status_code == 200
    token = with_code.json()["token"]
    replayed = sign_in(live_server, otp=code)
    assert replayed.status_code == 401 and replayed.json()["errorcode"] == "invalidotp"

    status = mfa_status(live_server, token)
    assert status.status_code == 200 and status.json()["mfa_enabled"] is True

    # revoked on the profile: the token stops working
    assert revoke_token(ann, bearer_token(token).id, ann, "revoked by the employee")
    gone = mfa_status(live_server, token)
    assert gone.status_code == 401 and gone.json()["errorcode"] == "invalidtoken"

    # Reset MFA by an administrator ends every other token too
    frozen_clock.advance(timedelta(seconds=30))
    another = sign_in(live_server, otp=totp_code(secret)).json()["token"]
    assert mfa_status(live_server, another).status_code == 200
    mfa.reset(ann, admin, "lost phone")
    assert mfa_status(live_server, another).status_code == 401
    assert mfa_status(live_server, first.json()["token"]).status_code == 401
