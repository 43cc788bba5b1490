"""gunicorn settings for `make serve-prod` (and `gunicorn -c gunicorn.conf.py wsgi:app`).

Every worker builds its own app, database pool and rate-limit client after the fork
(no preload): nothing that matters lives in one process (README, "Running in production").
"""
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
preload_app = False
accesslog = None  # portal.request_log writes one structured line per request instead
errorlog = "-"
# X-Forwarded-* are trusted by the app itself (TRUSTED_PROXY_COUNT, werkzeug's ProxyFix).
forwarded_allow_ips = "127.0.0.1"
