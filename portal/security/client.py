"""Who is asking: client address and user agent, trimmed for storage."""
from flask import request


def client_address() -> str:
    """The client's address as Werkzeug sees it (ProxyFix applies TRUSTED_PROXY_COUNT)."""
    return (request.remote_addr or "unknown")[:45]


def user_agent() -> str:
    return (request.headers.get("User-Agent") or "")[:255]
