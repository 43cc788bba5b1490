from datetime import timedelta

import pytest

from portal import clock
from portal.security.signin import lock_period
from portal.security.urls import safe_next


@pytest.mark.parametrize("target", ["/employees/", "/audit/?event=signout"])
def test_local_paths_are_followed(target):
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target", [None, "", "https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "x"]
)
def test_anything_else_is_not(target):
    assert safe_next(target) is None


def test_lock_period_doubles_up_to_the_maximum(app):
    periods = [lock_period(n) for n in range(1, 10)]
    assert periods[:4] == [timedelta(minutes=m) for m in (15, 30, 60, 120)]
    assert periods[-1] == timedelta(minutes=app.config["LOCKOUT_MAX_MINUTES"])


def test_frozen_clock_moves_only_when_told():
    start = clock.freeze()
    assert clock.utcnow() == start
    clock.advance(timedelta(minutes=5))
    assert clock.utcnow() - start == timedelta(minutes=5)
    clock.unfreeze()
    assert clock.utcnow() >= start
