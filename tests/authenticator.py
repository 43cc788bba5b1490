"""Debian's oathtool as the employee's authenticator app: an independent TOTP implementation."""
import os
import re
import shutil
import subprocess
from datetime import datetime

import pytest

from portal import clock

KEY_RE = re.compile(r'<code[^>]*id="mfa-key">([A-Z2-7 ]+)</code>')


def require_oathtool() -> str:
    path = shutil.which("oathtool")
    if path is None:
        message = "oathtool not found (apt-get install -y oathtool)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def totp_code(secret: str, at: datetime | None = None, digits: int = 6, algorithm: str = "SHA1",
              period: int = 30) -> str:
    """The code an authenticator app shows at `at` (default: the portal's clock)."""
    at = at or clock.utcnow()
    result = subprocess.run(
        [require_oathtool(), f"--totp={algorithm}", "--base32", f"--digits={digits}",
         f"--time-step-size={period}s", "--now", at.strftime("%Y-%m-%d %H:%M:%S UTC"), secret.replace(" ", "")],
        check=True, capture_output=True, text=True)
    return result.stdout.strip()


def key_from_page(html: str) -> str:
    match = KEY_RE.search(html)
    assert match, "the Signup for MFA popup shows no key"
    return match.group(1).replace(" ", "")
