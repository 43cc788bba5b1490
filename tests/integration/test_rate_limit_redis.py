"""With RATELIMIT_STORAGE_URI pointing at Redis, two worker processes share one per-address limit."""
import os
import socket
import subprocess
import sys
import textwrap
import uuid

import pytest

REDIS = ("127.0.0.1", 6379)

WORKER = textwrap.dedent("""
    import re, sys
    from config import TestingConfig
    from portal import create_app

    class Worker(TestingConfig):
        SQLALCHEMY_DATABASE_URI = sys.argv[1]
        RATELIMIT_STORAGE_URI = "redis://127.0.0.1:6379/0"
        RATELIMIT_KEY_PREFIX = sys.argv[2]

    client = create_app(Worker).test_client()
    for _ in range(int(sys.argv[3])):
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        response = client.post("/login", data={"csrf_token": token, "username": "nobody",
                                               "password": "not the password"})
        print(response.status_code)
""")


def _redis_up() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1):
            return True
    except OSError:
        return False


def _worker(database_url: str, prefix: str, attempts: int) -> list[int]:
    out = subprocess.run([sys.executable, "-c", WORKER, database_url, prefix, str(attempts)],
                         capture_output=True, text=True, check=True, timeout=120,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    return [int(line) for line in out.stdout.split()]


def test_failed_sign_ins_counted_in_one_process_limit_the_other(database_url):
    if not _redis_up():
        message = "Redis is not listening on 127.0.0.1:6379"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    prefix = f"portal-test-{uuid.uuid4().hex}"
    first = _worker(database_url, prefix, 30)
    assert first == [200] * 30
    second = _worker(database_url, prefix, 1)
    assert second == [429]
