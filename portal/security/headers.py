"""Security headers on every response (DESIGN.md §6.6)."""
from flask import request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


# Sent unless the view set its own value.
DEFAULT_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HTTPS_HEADERS = DEFAULT_HEADERS + (("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)


def add_security_headers(response):
    headers = response.headers
    present = {name.lower() for name in headers.keys()}  # one pass over the headers, not one per default
    headers.extend([(name, value) for name, value in (HTTPS_HEADERS if request.is_secure else DEFAULT_HEADERS)
                    if name.lower() not in present])
    if request.endpoint not in ("static", "bootstrap.static"):
        # Pages, exports and JSON hold personal data or secrets: never keep them in a cache.
        headers["Cache-Control"] = "no-store"
    return response
