"""Password hashing (Argon2id via argon2-cffi) and the password rules."""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 12
MAX_LENGTH = 128

# A short list of the passwords attackers try first; long enough to stop the
# obvious, short enough to read. Compared case-insensitively.
COMMON_PASSWORDS = frozenset(
    """
    123456789012 1234567890123 password1234 password12345 passwordpassword
    qwertyuiop12 qwertyuiopas 1q2w3e4r5t6y administrator administrator1
    welcome12345 letmein12345 iloveyou1234 changeme1234 trustno11234
    backoffice12 backoffice123 backoffice2026 abcdefghijkl abc123abc123
    111111111111 000000000000 aaaaaaaaaaaa monkey123456 football1234
    superman1234 sunshine1234 princess1234 dragon123456 baseball1234
    """.split()
)


def hasher() -> PasswordHasher:
    """The hasher for the app's configured Argon2id parameters (cached per app)."""
    cached = current_app.extensions.get("password_hasher")
    if cached is None:
        cfg = current_app.config
        cached = PasswordHasher(
            time_cost=cfg["ARGON2_TIME_COST"],
            memory_cost=cfg["ARGON2_MEMORY_COST"],
            parallelism=cfg["ARGON2_PARALLELISM"],
        )
        current_app.extensions["password_hasher"] = cached
    return cached


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return hasher().check_needs_rehash(password_hash)


def burn_verification_time(password: str) -> None:
    """Spend a verification's worth of time so an unknown user answers as slowly as a known one."""
    dummy = current_app.extensions.get("password_dummy_hash")
    if dummy is None:
        dummy = current_app.extensions["password_dummy_hash"] = hash_password("not-a-real-password")
    verify_password(dummy, password)


def password_problems(password: str, username: str | None = None) -> list[str]:
    """The reasons a new password is refused, in words for the form; empty when it is fine."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    if username and password.strip().lower() == username.strip().lower():
        problems.append("The password cannot be the username.")
    if password.lower() in COMMON_PASSWORDS:
        problems.append("This password is too common; choose another.")
    return problems
