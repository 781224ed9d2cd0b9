"""crmsync settings: one file, read from the environment, failing loudly on bad values.

Every variable is listed in the README. Secrets (SECRET_KEY, CRM tokens and passwords) are
read here and never logged or rendered.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from sync.crm.ratelimit import parse_rate

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (1/0, yes/no, on/off), not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, default: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    raw = os.environ.get(name, "").strip() or default
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.hostname:
        raise ImproperlyConfigured(f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
                                   f" and naming a host, not {raw!r}")
    return raw.rstrip("/")


def database_from_url(url: str) -> dict:
    """sqlite:///relative/or//absolute/path, or postgres://user:pass@host:port/name?opt=value."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if path.startswith("//"):
            name = path[1:]
        elif path in ("", "/"):
            raise ImproperlyConfigured("DATABASE_URL sqlite:/// needs a file path, e.g. sqlite:///var/db.sqlite3")
        else:
            name = str(BASE_DIR / path.lstrip("/"))
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name,
                # busy timeout: web, qcluster workers and the sandbox-seeded demo share one file.
                # WAL: the console's readers don't wait for a sync's writes (nor it for them), and
                # with synchronous=NORMAL a commit appends to the log without an fsync each time
                # (durable at checkpoints; a power cut can lose the last commits, never corrupt).
                "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE",
                            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"}}
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured("DATABASE_URL for PostgreSQL must name a database, e.g. "
                                       "postgres://127.0.0.1:5432/crmsync")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"DATABASE_URL has an invalid port: {parts.netloc!r}") from None
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return {"ENGINE": "django.db.backends.postgresql", "NAME": name,
                "USER": unquote(parts.username or ""), "PASSWORD": unquote(parts.password or ""),
                "HOST": parts.hostname or "", "PORT": str(port or ""), "OPTIONS": options,
                "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
                "CONN_HEALTH_CHECKS": True}
    raise ImproperlyConfigured(f"DATABASE_URL must start with sqlite:// or postgres://, not {parts.scheme!r}://")


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (e.g. `python -c 'import secrets; "
                                   "print(secrets.token_urlsafe(50))'`)")
    SECRET_KEY = "dev-only-insecure-key-set-SECRET_KEY-in-production"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_q",
    "axes",
    "sync",
    "sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # after HtmxMiddleware: an htmx request with an expired session gets HX-Redirect, not a 302
    "sync.middleware.HtmxLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses logins while a username/address is locked out
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "crmsync.urls"
WSGI_APPLICATION = "crmsync.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sync.context_processors.roles",

            ],
        },
    },
]

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL", "").strip() or "sqlite:///var/crmsync.sqlite3")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Repeated failed logins are throttled (django-axes): after LOGIN_FAILURE_LIMIT failures for one
# username from one address, further attempts get 429 for LOGIN_LOCKOUT_MINUTES.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "sync:overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns at startup when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage" if not DEBUG
                    else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Production hardening; `manage.py check --deploy` is clean when DEBUG is off and TLS is in front.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
if BEHIND_TLS_PROXY:  # the client's address for login throttling comes from the proxy
    AXES_IPWARE_PROXY_COUNT = 1
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles, images and requests from our own origin
# only (htmx is one of our static files); no inline script, style or event handler, no eval;
# never framed. Pages keep to it (tests/browser/test_csp.py listens for violations).
CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": [SELF], "object-src": [NONE], "base-uri": [NONE],
                                          "form-action": [SELF], "frame-ancestors": [NONE]}}

# --- CRM connections (read now, used by the connectors in sync/crm/) ---
SALESFORCE_INSTANCE_URL = env_url("SALESFORCE_INSTANCE_URL", "")
SALESFORCE_ACCESS_TOKEN = os.environ.get("SALESFORCE_ACCESS_TOKEN", "")
SALESFORCE_USERNAME = os.environ.get("SALESFORCE_USERNAME", "")
SALESFORCE_PASSWORD = os.environ.get("SALESFORCE_PASSWORD", "")
SALESFORCE_SECURITY_TOKEN = os.environ.get("SALESFORCE_SECURITY_TOKEN", "")
SALESFORCE_CLIENT_ID = os.environ.get("SALESFORCE_CLIENT_ID", "")
SALESFORCE_CLIENT_SECRET = os.environ.get("SALESFORCE_CLIENT_SECRET", "")
# login.salesforce.com ("login"), test.salesforce.com ("test"), or a My Domain host prefix
SALESFORCE_DOMAIN = os.environ.get("SALESFORCE_DOMAIN", "login")
SALESFORCE_API_VERSION = os.environ.get("SALESFORCE_API_VERSION", "59.0")
if not SALESFORCE_API_VERSION.replace(".", "", 1).isdigit() or "." not in SALESFORCE_API_VERSION:
    raise ImproperlyConfigured(f"SALESFORCE_API_VERSION must look like 59.0, not {SALESFORCE_API_VERSION!r}")
# A full pull of an object with at least this many records (deleted ones in the recycle bin
# included) reads it through a Bulk API 2.0 query job instead of REST pages of 2,000 (the REST
# first page's totalSize decides: sync/engine/bulk_pull.py). 0: Bulk always; "off": REST always.
_bulk_threshold = os.environ.get("SALESFORCE_BULK_THRESHOLD", "").strip().lower()
SALESFORCE_BULK_THRESHOLD = None if _bulk_threshold == "off" else env_int("SALESFORCE_BULK_THRESHOLD", 10_000, minimum=0)
# Salesforce collection writes (200 records a call) in flight at once, when no record sets a lookup
# (sync/crm/salesforce.py _each_chunk): an org answers each in a second or so; one at a time, a
# full sync's lead and opportunity creates waited for every answer in turn.
SALESFORCE_WRITE_CONCURRENCY = env_int("SALESFORCE_WRITE_CONCURRENCY", 3, minimum=1)
# Only for a Salesforce user that crmsync alone logs in as: incremental pulls leave out the records
# whose last change that user made (crmsync's own writes, which the mirror already holds), so a run
# after a full sync does not read its own leads and field writes back. A person's edits made while
# logged in as that user would be skipped too, hence off unless the user is crmsync's own (README).
SALESFORCE_SKIP_OWN_WRITES = env_bool("SALESFORCE_SKIP_OWN_WRITES", False)
if SALESFORCE_USERNAME and not SALESFORCE_PASSWORD:
    raise ImproperlyConfigured("SALESFORCE_USERNAME is set but SALESFORCE_PASSWORD is not")
if bool(SALESFORCE_CLIENT_ID) != bool(SALESFORCE_CLIENT_SECRET):
    raise ImproperlyConfigured("SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET must be set together")
if SALESFORCE_ACCESS_TOKEN and not SALESFORCE_INSTANCE_URL:
    raise ImproperlyConfigured("SALESFORCE_ACCESS_TOKEN needs SALESFORCE_INSTANCE_URL")

HUBSPOT_ACCESS_TOKEN = os.environ.get("HUBSPOT_ACCESS_TOKEN", "")
HUBSPOT_BASE_URL = env_url("HUBSPOT_BASE_URL", "https://api.hubapi.com")
# HubSpot's burst limit per app, "requests/seconds": the lowest tier until HubSpot's answers
# report the portal's own (X-HubSpot-RateLimit-Max). All workers share it (sync/crm/ratelimit.py).
try:
    HUBSPOT_RATE_LIMIT = parse_rate(os.environ.get("HUBSPOT_RATE_LIMIT", "100/10s"))
except ValueError as exc:
    raise ImproperlyConfigured(f"HUBSPOT_RATE_LIMIT: {exc}") from None

# Timeouts (seconds) for every CRM request: (connect, read)
# Seconds each incremental HubSpot pull re-reads before its watermark: HubSpot's search index
# shows writes late and out of order (sync/engine/pull.py hubspot_overlap).
HUBSPOT_SEARCH_OVERLAP = env_int("HUBSPOT_SEARCH_OVERLAP", 30, minimum=0)
# The longest run of crmsync's own HubSpot writes one search filter group explains (sync/engine/
# echo.py): an edit someone makes to a record within this span after crmsync wrote it waits for
# the record's next change or a full sync. Shorter costs more searches after big runs.
HUBSPOT_ECHO_GROUP_SECONDS = env_int("HUBSPOT_ECHO_GROUP_SECONDS", 10, minimum=1)
# Live sync (sync/webhooks.py): HubSpot signs each webhook batch with the app's client secret
# (X-HubSpot-Signature-v3). Set, the endpoint /hooks/hubspot/ accepts batches and queues a sync of
# just the records they name; unset, it answers 503 and only the scheduled sweep syncs. A secret:
# read here, used to check signatures, never shown.
HUBSPOT_WEBHOOK_SECRET = os.environ.get("HUBSPOT_WEBHOOK_SECRET", "")
# The endpoint's URL exactly as entered in HubSpot's app settings: the signature covers it, and
# behind a proxy the URL Django sees (http://, an inner host) is not the one HubSpot called.
# Unset: the URL of the request as Django sees it.
HUBSPOT_WEBHOOK_URL = os.environ.get("HUBSPOT_WEBHOOK_URL", "").strip() if env_url("HUBSPOT_WEBHOOK_URL", "") else ""
# The largest webhook request accepted (bytes): HubSpot sends at most 100 events per request.
HUBSPOT_WEBHOOK_MAX_BYTES = env_int("HUBSPOT_WEBHOOK_MAX_BYTES", 256 * 1024, minimum=1024)
# While webhooks arrive (a batch in the last day), deletions and merges come with them: an
# incremental run lists HubSpot's archived records (one request per object type, the only way
# to see deletions without webhooks) at most this often instead of every run.
HUBSPOT_ARCHIVED_LISTING_MINUTES = env_int("HUBSPOT_ARCHIVED_LISTING_MINUTES", 60, minimum=1)
CRM_TIMEOUT = (env_int("CRM_CONNECT_TIMEOUT", 10, minimum=1), env_int("CRM_READ_TIMEOUT", 60, minimum=1))

# --- Background tasks (django-q2) ---
REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss", "unix"))
Q_CLUSTER = {
    "name": "crmsync",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": env_int("Q_TIMEOUT", 3600, minimum=10),  # a first full sync of a large org takes a while
    "max_attempts": 1,      # the sync is re-run by its schedule; a crashed run is not replayed blindly
    "catch_up": False,      # after downtime, run once instead of replaying every missed slot
    "ack_failures": True,
    "label": "Background tasks",
}
Q_CLUSTER["retry"] = Q_CLUSTER["timeout"] + 60  # django-q2 requires retry > timeout
# A full sync run by the task cluster splits its pull into one task per object type, run in
# parallel by the workers (sync/engine/parallel.py). On by default with PostgreSQL; SQLite has
# one writer at a time, so parallel parts would only queue for its lock.
SYNC_PARALLEL = env_bool("SYNC_PARALLEL", DATABASES["default"]["ENGINE"].endswith("postgresql"))
# A run's pull reads Salesforce's objects and HubSpot side by side (sync/engine/pull.py pull_all):
# at the CRMs' real pace several times sooner, for about 45 MB more memory at its peak. Off: one
# object after another.
SYNC_PULL_SIDE_BY_SIDE = env_bool("SYNC_PULL_SIDE_BY_SIDE", True)
# Steps after the pull that touch disjoint records run side by side (sync/engine/sidebyside.py):
# each waits for its CRM while the other works. Off: one after another.
SYNC_STEPS_SIDE_BY_SIDE = env_bool("SYNC_STEPS_SIDE_BY_SIDE", True)
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"  # the queue lives in our own database: nothing else to run
    Q_CLUSTER["poll"] = 0.2
    # Each cluster's heartbeat (django_q.status.Stat), which the console reads to say when no worker
    # is running (sync/workers.py), goes to this cache; Redis keeps it itself. The default cache is
    # per process, so a shared one: a table for PostgreSQL (any host; migration 0010 creates it),
    # files beside a SQLite database (one host, and no writes competing for SQLite's one writer).
    Q_CLUSTER["cache"] = "workers"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if not REDIS_URL:
    CACHES["workers"] = (
        {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "crmsync_worker_heartbeat"}
        if DATABASES["default"]["ENGINE"].endswith("postgresql") else
        {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
         "LOCATION": DATABASES["default"]["NAME"] + "-workers"})

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # urllib3 logs full request URLs at DEBUG; those can carry a session id in a query string.
        "urllib3": {"level": "WARNING"},
    },
}
# Optional: lets the console link HubSpot records to app.hubspot.com (Test connection shows it).
HUBSPOT_PORTAL_ID = os.environ.get("HUBSPOT_PORTAL_ID", "").strip()

# --- Alerts: an email digest to the admins of what is new (sync/alerts.py) ---
# On when an SMTP host is set, unless ALERTS_EMAIL says otherwise (true without EMAIL_HOST: an MTA
# on localhost:25). EMAIL_HOST_PASSWORD is a secret: read here, given to SMTP, never shown.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "").strip()
ALERTS_EMAIL = env_bool("ALERTS_EMAIL", bool(EMAIL_HOST))
EMAIL_HOST = EMAIL_HOST or "localhost"
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_PORT = env_int("EMAIL_PORT", 587 if EMAIL_USE_TLS else 25, minimum=1)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_TIMEOUT = 30  # seconds: a mail server that hangs must not hold a worker for the task's whole timeout
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "").strip() or "crmsync@localhost"
ALERTS_INTERVAL_MINUTES = env_int("ALERTS_INTERVAL_MINUTES", 60, minimum=1)
# The console's address as admins reach it, for the digest's links.
CONSOLE_URL = env_url("CONSOLE_URL", "http://127.0.0.1:8000" if DEBUG else "")
if ALERTS_EMAIL and not CONSOLE_URL:
    raise ImproperlyConfigured("Alerts are on (EMAIL_HOST or ALERTS_EMAIL is set): set CONSOLE_URL to the console's "
                               "address, e.g. https://crm.example.com, for the digest's links")
