import pytest

from portal.security.passwords import hash_password, needs_rehash, password_problems, verify_password


def test_hash_is_argon2id_and_verifies(app):
    hashed = hash_password("a perfectly fine passphrase")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "a perfectly fine passphrase")
    assert not verify_password(hashed, "a perfectly fine passphrasE")
    assert not verify_password("not a hash", "anything")


def test_hash_made_with_other_parameters_needs_rehash(app):
    from argon2 import PasswordHasher

    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash("some passphrase here")
    assert needs_rehash(old)
    assert not needs_rehash(hash_password("some passphrase here"))


@pytest.mark.parametrize(
    ("password", "username", "problem"),
    [
        ("short", None, "at least 12"),
        ("x" * 129, None, "at most 128"),
        ("BobTheBuilder", "bobthebuilder", "cannot be the username"),
        ("Password1234", None, "too common"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password, username, problem):
    assert any(problem in p for p in password_problems(password, username))


def test_good_password_has_no_problems():
    assert password_problems("tram lemon quiet orbit", "bob") == []
