"""Device tokens: the secret a linked POS device keeps in its local storage.

Issued once at linking, stored only as a SHA-256 digest (256 random bits need no slow
hash), and sent by the device's script in a header, never in a URL or a cookie. A
device token opens the POS calls of its own terminal and nothing else.
"""
import hashlib
import hmac
import secrets

from flask import jsonify, request

DEVICE_TOKEN_HEADER = "X-Pos-Device-Token"  # noqa: S105  (a header name, not a secret)
TERMINAL_HEADER = "X-Pos-Terminal"
POS_BLUEPRINT = "pos"


def new_device_token() -> str:
    return secrets.token_urlsafe(32)


def device_token_digest(token: str) -> str:
    return hashlib.sha256(b"pos-device-token:" + token.encode()).hexdigest()


def matches(token: str | None, digest: str | None) -> bool:
    """Constant-time comparison of a presented token with a stored digest."""
    if not token or not digest:
        return False
    return hmac.compare_digest(device_token_digest(token), digest)


def refuse_device_credentials_elsewhere():
    """before_request: a request carrying a device token is refused outside the POS calls,
    so a device credential can never stand in for a back-office sign-in."""
    if DEVICE_TOKEN_HEADER in request.headers and request.blueprint != POS_BLUEPRINT:
        return jsonify(error="A POS device credential cannot be used here.", errorcode="forbidden"), 403
    return None
