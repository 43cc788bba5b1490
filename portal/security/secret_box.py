"""Encryption at rest for MFA secrets and other stored secrets (DESIGN.md §6.4).

Keys come from MFA_ENCRYPTION_KEYS: comma-separated Fernet keys, newest first.
Decryption tries every key (MultiFernet), encryption uses the first, so a key
rotation is: put the new key first, run `flask rotate-mfa-keys`, drop the old key.
"""
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class SecretBoxError(RuntimeError):
    """A stored secret could not be decrypted with any configured key."""


def _box() -> MultiFernet:
    box = current_app.extensions.get("secret_box")
    if box is None:
        keys = [k.strip() for k in current_app.config["MFA_ENCRYPTION_KEYS"].split(",") if k.strip()]
        if not keys:
            raise RuntimeError("MFA_ENCRYPTION_KEYS holds no key")
        box = current_app.extensions["secret_box"] = MultiFernet([Fernet(k) for k in keys])
    return box


def encrypt(plaintext: str) -> str:
    return _box().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretBoxError("stored secret cannot be decrypted with the configured keys") from None


def rotate(token: str) -> str:
    """Re-encrypt under the newest key."""
    try:
        return _box().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretBoxError("stored secret cannot be decrypted with the configured keys") from None


def generate_key() -> str:
    return Fernet.generate_key().decode()
