"""Configuration classes, read from environment variables.

`create_app()` picks one by `PORTAL_ENV` (development, testing, production);
production has no fallback for secrets, so a missing one stops start-up.
"""
import base64
import os
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("PORTAL_INSTANCE_DIR", BASE_DIR / "instance"))


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _instance_file(name: str, make) -> str:
    """Development only: a random value generated once and kept under instance/."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _cors_origins(text: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in text.split(",") if o.strip())
    for origin in origins:
        if origin in ("*", "null") or not origin.startswith(("https://", "http://")):
            raise RuntimeError(f"API_CORS_ORIGINS: {origin!r} is not an origin like https://app.example.com")
    return origins


class Config:
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'portal.db'}"
    )
    # Each worker process has its own pool: keep WEB_CONCURRENCY x (DB_POOL_SIZE + DB_MAX_OVERFLOW)
    # under the database's max_connections. pre_ping replaces connections a database restart
    # broke, so service resumes by itself once the database is back.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    SESSION_COOKIE_NAME = "session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    # The signed cookie lives as long as the server-side session may (SESSION_ABSOLUTE_HOURS,
    # below) and is not re-signed and re-sent on every answer: the server-side record decides.
    SESSION_REFRESH_EACH_REQUEST = False
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session it is bound to
    MAX_CONTENT_LENGTH = 1024 * 1024

    BOOTSTRAP_SERVE_LOCAL = True

    # Rate limits per client address (Flask-Limiter). Redis when set, else memory.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Redis down: limits go on per worker process in memory (weaker, never off) and sign-in
    # keeps working; account lockout lives in the database and is not affected.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_LOGIN = os.environ.get("RATELIMIT_LOGIN", "30 per minute")
    # Failed sign-ins from one address, whatever account they name.
    RATELIMIT_LOGIN_FAILURES = os.environ.get("RATELIMIT_LOGIN_FAILURES", "50 per 15 minutes")

    # Account lockout: after this many consecutive failures the account is locked
    # for LOCKOUT_BASE_MINUTES, doubling with each further lock up to the maximum.
    LOCKOUT_THRESHOLD = _env_int("LOCKOUT_THRESHOLD", 10)
    if not 1 <= LOCKOUT_THRESHOLD <= 100:
        raise RuntimeError("LOCKOUT_THRESHOLD must be between 1 and 100 (DESIGN.md §6.3)")
    LOCKOUT_BASE_MINUTES = _env_int("LOCKOUT_BASE_MINUTES", 15)
    LOCKOUT_MAX_MINUTES = _env_int("LOCKOUT_MAX_MINUTES", 24 * 60)

    # Server-side session record: sign-in is required again after this, whatever the activity.
    SESSION_ABSOLUTE_HOURS = _env_int("SESSION_ABSOLUTE_HOURS", 12)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=SESSION_ABSOLUTE_HOURS)

    # Argon2id parameters (argon2-cffi); RFC 9106 second recommended option.
    ARGON2_TIME_COST = _env_int("ARGON2_TIME_COST", 3)
    ARGON2_MEMORY_COST = _env_int("ARGON2_MEMORY_COST", 64 * 1024)
    ARGON2_PARALLELISM = _env_int("ARGON2_PARALLELISM", 4)

    # Web origins allowed to call /api/ from a browser (CORS), comma-separated, e.g.
    # "https://app.example.com". Empty: no cross-origin calls. Never "*" or "null".
    API_CORS_ORIGINS = _cors_origins(os.environ.get("API_CORS_ORIGINS", ""))
    API_MAX_BODY_BYTES = 64 * 1024

    # Number of reverse proxies in front of the portal whose X-Forwarded-* to trust.
    TRUSTED_PROXY_COUNT = _env_int("TRUSTED_PROXY_COUNT", 0)

    # Outgoing mail: notices when MFA changes, email OTP codes.
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = _env_int("MAIL_PORT", 25)
    MAIL_USE_TLS = os.environ.get("MAIL_USE_TLS", "").lower() in ("1", "true", "yes")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Back Office <no-reply@localhost>")
    MAIL_TIMEOUT = _env_int("MAIL_TIMEOUT", 10)
    # Without MAIL_SERVER, development writes mail to the console; elsewhere it is not sent
    # (a console is a log, and notices can carry enrolment codes).
    MAIL_CONSOLE = False

    # Seconds to connect to, and then to hear back from, the SMS gateway.
    SMS_GATEWAY_TIMEOUT = float(os.environ.get("SMS_GATEWAY_TIMEOUT", 5))


class DevelopmentConfig(Config):
    MAIL_CONSOLE = True

    def __init__(self) -> None:
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or _instance_file("secret_key", lambda: secrets.token_hex(32))
        self.MFA_ENCRYPTION_KEYS = os.environ.get("MFA_ENCRYPTION_KEYS") or _instance_file(
            "mfa_encryption_key", _fernet_key
        )


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = secrets.token_hex(32)  # new for every test run
    MFA_ENCRYPTION_KEYS = _fernet_key()
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    RATELIMIT_STORAGE_URI = "memory://"
    # Cheap hashing keeps the suite fast; production keeps the strong defaults above.
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 8
    ARGON2_PARALLELISM = 1


class ProductionConfig(Config):
    SESSION_COOKIE_NAME = "__Host-session"
    SESSION_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

    def __init__(self) -> None:
        missing = [n for n in ("SECRET_KEY", "DATABASE_URL", "MFA_ENCRYPTION_KEYS") if not os.environ.get(n)]
        if missing:
            raise RuntimeError(
                "Production configuration needs these environment variables: " + ", ".join(missing)
            )
        self.SECRET_KEY = os.environ["SECRET_KEY"]
        self.SQLALCHEMY_DATABASE_URI = os.environ["DATABASE_URL"]
        if not self.SQLALCHEMY_DATABASE_URI.startswith("sqlite"):
            self.SQLALCHEMY_ENGINE_OPTIONS = {
                "pool_pre_ping": True, "pool_size": _env_int("DB_POOL_SIZE", 5),
                "max_overflow": _env_int("DB_MAX_OVERFLOW", 5), "pool_timeout": _env_int("DB_POOL_TIMEOUT", 10),
                "pool_recycle": 1800,
                # psycopg prepares a statement after this many runs on a connection; "0" turns it
                # off (for PgBouncer in transaction mode before 1.21). See portal/read_only_commit.py.
                "connect_args": {"prepare_threshold": _env_int("DB_PREPARE_THRESHOLD", 5) or None},
            }
        self.MFA_ENCRYPTION_KEYS = os.environ["MFA_ENCRYPTION_KEYS"]


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(name: str | None = None):
    name = name or os.environ.get("PORTAL_ENV", "development")
    try:
        return CONFIGS[name]()
    except KeyError:
        raise RuntimeError(f"PORTAL_ENV must be one of {', '.join(CONFIGS)}, not {name!r}") from None
