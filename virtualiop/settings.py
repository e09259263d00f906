"""Settings for Virtual IOP: one module, driven by environment variables.

Development (the default) needs no services: SQLite under ``var/``, the in-memory channel
layer, local-memory cache and a Celery broker on the file system. ``DATABASE_URL`` and
``REDIS_URL`` switch to PostgreSQL and Redis. ``DJANGO_ENV=production`` turns on every
transport-security setting and makes the secrets mandatory.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"
TESTING = "pytest" in sys.modules or env.bool("TESTING", default=False)


def envsecret(name: str, default: str | None = None) -> str | None:
    """Read a secret from ``NAME`` or from the file named by ``NAME_FILE``."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def _dev_secret_key() -> str:
    """Generate a development key once and keep it under var/ so sessions survive restarts."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required in production.")
    SECRET_KEY = _dev_secret_key()

DEBUG = env.bool("DEBUG", default=not PRODUCTION and not TESTING)

if PRODUCTION:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS is required in production.")
else:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute base for links in e-mail and SMS (paths carry ids only, never names). Never
# derived from PORT: honcho gives each process its own (the worker's links pointed at 8100);
# `make run` sets SITE_URL once for all of its processes.
SITE_URL = env.str("SITE_URL", default="" if PRODUCTION else "http://127.0.0.1:8000")
if PRODUCTION and not SITE_URL.startswith("https://"):
    raise ImproperlyConfigured(
        "SITE_URL (https://…) is required in production for links in e-mail."
    )

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_celery_beat",
    "django_htmx",
    "csp",
    "phonenumber_field",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "simple_history",
    # Local apps: the order is the order demo data is seeded in.
    "apps.core",
    "apps.audit",
    "apps.accounts",
    "apps.programs",
    "apps.measures",
    "apps.enrollment",
    "apps.scheduling",
    "apps.rooms",
    "apps.homework",
    "apps.progress",
    "apps.notifications",
    "apps.video",
    "apps.diagnoses",
    "apps.charting",
    "apps.messaging",
    "apps.casemanagement",
    "apps.medications",
    "apps.billing",
    "apps.disclosures",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Content-Security-Policy and Permissions-Policy on every page (see "Browser policies").
    "apps.core.headers.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "apps.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.accounts.middleware.IdleTimeoutMiddleware",
    "apps.accounts.middleware.UserTimezoneMiddleware",
    "apps.accounts.middleware.StaffMFARequiredMiddleware",
    # Records the signed-in user on each history row (django-simple-history).
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Issue 24 item 8: a control character (NUL…) in any text input is a 400, never a 500.
    "apps.core.middleware.ControlCharacterMiddleware",
]

ROOT_URLCONF = "virtualiop.urls"
WSGI_APPLICATION = "virtualiop.wsgi.application"
ASGI_APPLICATION = "virtualiop.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.site",
                "apps.accounts.context_processors.crisis",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'virtualiop.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # daphne, the Celery worker and beat share one file: wait for locks, write-ahead log.
    DATABASES["default"]["OPTIONS"] = {  # type: ignore[typeddict-item]
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Persistent connections in production; none in tests, where socket consumers and live
    # servers run on many short-lived threads that would each keep one open.
    DATABASES["default"].setdefault(
        "CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0 if TESTING else 60)
    )
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Statement timeout (PostgreSQL): a page or a socket frame stuck behind a lock gives up and
# answers "busy" (503, apps/core/views.py) instead of hanging its worker. Pages and sockets
# use DB_STATEMENT_TIMEOUT_MS (5 s); management commands (migrate), the Celery worker and
# beat run long statements on purpose and default to none (0); so do the tests, which set
# their own where they test it. The lock wait gives up a little earlier, naming the lock.
_ENTRY_POINT = Path(sys.argv[0]).name if sys.argv else ""
_LONG_RUNNING = TESTING or _ENTRY_POINT in {"manage.py", "celery"}
DB_STATEMENT_TIMEOUT_MS = env.int("DB_STATEMENT_TIMEOUT_MS", default=0 if _LONG_RUNNING else 5000)
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    _pg_settings = []
    if DB_STATEMENT_TIMEOUT_MS > 0:
        _pg_settings += [
            f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}",
            f"-c lock_timeout={max(DB_STATEMENT_TIMEOUT_MS * 4 // 5, 1)}",
        ]
    if TESTING:
        # The suite empties every table between transactional tests with TRUNCATE, which
        # the audit trail's trigger refuses to any connection that does not say this
        # (apps/audit/migrations/0004_refuse_truncate.py).
        _pg_settings.append("-c virtualiop.allow_audit_truncate=on")
    if _pg_settings:
        _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
        _pg_options["options"] = " ".join([_pg_options.get("options", ""), *_pg_settings]).strip()
# /healthz calls the database slow past this (a real query, apps/core/health.py).
HEALTHZ_DB_BOUND_MS = env.int("HEALTHZ_DB_BOUND_MS", default=1000)
# Parallel test runs (several checkouts or helpers) can keep their test databases apart.
_test_db_suffix = env.str("TEST_DB_SUFFIX", default="")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not shared-cache memory: browser tests hit the live server from several threads,
    # and in-memory SQLite answers "table is locked" at once where a file waits (timeout above).
    DATABASES["default"]["TEST"] = {
        "NAME": str(VAR_DIR / f"test{_test_db_suffix}-{os.getpid()}.sqlite3")
    }
elif _test_db_suffix:
    DATABASES["default"]["TEST"] = {"NAME": f"test_virtualiop_{_test_db_suffix}"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Threads per daphne process for the sockets' database work (apps/core/consumers.py).
SOCKET_DB_THREADS = env.int("SOCKET_DB_THREADS", default=4)

# --- Group rooms (apps/rooms, docs/rooms-protocol.md) ---------------------------------
# A room opens this many minutes before its session starts.
ROOMS_OPEN_MINUTES_BEFORE = env.int("ROOMS_OPEN_MINUTES_BEFORE", default=15)
# ...and stays live this many minutes past the scheduled end unless a facilitator ends it.
ROOMS_GRACE_MINUTES = env.int("ROOMS_GRACE_MINUTES", default=10)
# Days a closed room's transcript stays readable to its members.
ROOMS_HISTORY_DAYS = env.int("ROOMS_HISTORY_DAYS", default=365)
# Chat rate limit: this many messages per author and room in any window of that many seconds.
ROOMS_RATE_LIMIT_MESSAGES = env.int("ROOMS_RATE_LIMIT_MESSAGES", default=20)
ROOMS_RATE_LIMIT_SECONDS = env.int("ROOMS_RATE_LIMIT_SECONDS", default=10)
# "<name> left" is posted only after this long away, so a quick reconnect says nothing.
ROOMS_LEFT_ANNOUNCE_SECONDS = env.int("ROOMS_LEFT_ANNOUNCE_SECONDS", default=30)

# --- Redis: cache, channel layer, Celery broker -----------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# pytest-xdist worker "gw<n>" of a parallel test run: its own test database (pytest-django
# suffixes it) and its own Redis database, n after REDIS_URL's (mod 16), since tests empty
# the cache with FLUSHDB.
_test_worker = env.str("PYTEST_XDIST_WORKER", default="") if TESTING else ""
if REDIS_URL and _test_worker:
    _redis = urlsplit(REDIS_URL)
    _redis_db = (int(_redis.path.strip("/") or 0) + int(_test_worker.removeprefix("gw"))) % 16
    REDIS_URL = urlunsplit(_redis._replace(path=f"/{_redis_db}"))
# Cached page fragments (apps/core/fragments.py): only with a cache every process shares, so a
# write in one process invalidates the copy another process would serve.
FRAGMENT_CACHE = env.bool("FRAGMENT_CACHE", default=bool(REDIS_URL))

if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache, one redis-py client per pool (apps/core/cache.py).
            "BACKEND": "apps.core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="viop"),
            "TIMEOUT": 300,
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # The pub/sub layer: group_send is one PUBLISH, and it measured faster than the
            # core layer for room fan-out. The database is the source of truth; the layer
            # only carries notifications, so anything it drops is recovered by catch-up.
            # (This layer has no per-channel capacity to raise: its local queues are unbounded.)
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                # Short timeouts: a hung Redis holds a broadcast for 2 s at most, not 5 s.
                "hosts": [{"address": REDIS_URL, "socket_connect_timeout": 1, "socket_timeout": 2}],
                # Redis pub/sub channels are server-wide, not per database number: test runs
                # side by side (TEST_DB_SUFFIX) must not hear each other's rooms.
                "prefix": env.str("CHANNEL_PREFIX", default=f"viop{_test_db_suffix}{_test_worker}"),
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Each process's room hub takes every room's events on one channel (its queue would drop
    # past the default 100 waiting).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 1000},
        }
    }
    # A broker that needs no server: kombu's file-system transport under var/.
    _broker_dir = VAR_DIR / "celery-broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }

# --- Celery ---------------------------------------------------------------------------
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Apps add their periodic tasks here (declared in code, synced to django-celery-beat).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}
# Row history of clinical tables keeps a file's path, not a second copy of the file.
SIMPLE_HISTORY_FILEFIELD_TO_CHARFIELD = True
# The worker logs through LOGGING below (its PHI-safe formatter), not handlers of its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Auth and accounts ----------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 is deliberately slow; tests create hundreds of users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_FORMS = {
    "login": "apps.accounts.forms.SiteLoginForm",
    "signup": "apps.accounts.forms.PatientSignupForm",
}
ACCOUNT_ADAPTER = "apps.accounts.adapter.AccountAdapter"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Virtual IOP] "
# The client address behind our proxies: nginx appends the address it saw to
# X-Forwarded-For, and exactly that many hops are trusted (apps/core/requestcontext.py,
# allauth's rate limits). 0 without a proxy (``make run``): the socket's own address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1 if PRODUCTION else 0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
ACCOUNT_RATE_LIMITS = {
    # Failed logins per client address, and per account (README, "Sign-in limits"): the
    # account's limit stops guessing from many addresses, and a password reset clears it
    # and signs the person in (code step included), so it cannot keep anyone out for good.
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Virtual IOP"
MFA_TOTP_TOLERANCE = 1

# Idle logoff (HIPAA 164.312(a)(2)(iii)): the session ends after this many idle seconds; the
# page warns a minute before. The absolute session lifetime is the cookie age.
IDLE_TIMEOUT_SECONDS = env.int("IDLE_TIMEOUT_SECONDS", default=15 * 60)
IDLE_WARNING_SECONDS = env.int("IDLE_WARNING_SECONDS", default=60)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# Flash messages live in the session, not a cookie: "Signed in as <full name>" is PHI.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# The cyclic garbage collector of daphne and gunicorn processes: allocations between young
# collections (CPython's default 700). Larger makes the stalls of full collections rare
# (apps/core/runtime.py).
GC_GEN0_THRESHOLD = env.int("GC_GEN0_THRESHOLD", default=20_000)

# --- Internationalisation and time ----------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# The site's date and time formats, named once per language (virtualiop/formats/en/formats.py).
FORMAT_MODULE_PATH = ["virtualiop.formats"]
TIME_ZONE = "UTC"
USE_TZ = True
# The clinic's zone: the default for new users and programs.
CLINIC_TIME_ZONE = env.str("CLINIC_TIME_ZONE", default="America/Los_Angeles")
CLINIC_NAME = env.str("CLINIC_NAME", default="Virtual IOP Clinic")
CLINIC_PHONE = env.str("CLINIC_PHONE", default="(555) 010-0100")
# Region assumed for phone numbers typed without a country code.
PHONENUMBER_DEFAULT_REGION = "US"

# --- Static and media -----------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
if not PRODUCTION:
    STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns about a missing root
# Uploaded files (insurance cards, consents) are private: stored outside the web root and
# served only through views that check access.
PRIVATE_MEDIA_ROOT = Path(env.str("PRIVATE_MEDIA_ROOT", default=str(VAR_DIR / "private-media")))
MEDIA_ROOT = PRIVATE_MEDIA_ROOT
MEDIA_URL = "/private-media-not-served/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
# Secure messaging: the largest attachment (image or PDF) a message may carry.
MESSAGING_ATTACHMENT_MAX_BYTES = env.int("MESSAGING_ATTACHMENT_MAX_BYTES", default=5 * 1024 * 1024)

# --- E-mail ---------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
# Production refuses to run without a real one (apps/core/checks.py).
EMAIL_URL_SET = bool(os.environ.get("EMAIL_URL"))
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Virtual IOP <no-reply@virtualiop.test>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Notifications: e-mail and SMS delivery (apps/notifications, docs/notifications.md) --
# The e-mail backend notifications use; empty: EMAIL_BACKEND (SMTP becomes the backend that
# records the hand-over, apps/notifications/conf.py).
NOTIFICATIONS_EMAIL_BACKEND = env.str("NOTIFICATIONS_EMAIL_BACKEND", default="")
# Seconds a claimed row may stay "sending" without its worker renewing the claim.
NOTIFICATIONS_SENDING_LEASE_SECONDS = env.int("NOTIFICATIONS_SENDING_LEASE_SECONDS", default=60)
# Delivery tasks a dispatcher tick starts at most when rows are due (about the workers).
NOTIFICATIONS_DELIVERY_TASKS = env.int("NOTIFICATIONS_DELIVERY_TASKS", default=4)
# Tries before a row that keeps failing transiently is marked failed.
NOTIFICATIONS_MAX_ATTEMPTS = env.int("NOTIFICATIONS_MAX_ATTEMPTS", default=5)
# First retry delay; it doubles with each attempt (capped in apps/notifications/dispatch.py).
NOTIFICATIONS_RETRY_BASE_SECONDS = env.int("NOTIFICATIONS_RETRY_BASE_SECONDS", default=30)
# SMS backend: console, file, locmem, twilio or a dotted path (apps/notifications/sms.py).
SMS_BACKEND = env.str("SMS_BACKEND", default="locmem" if TESTING else "console")
# Where the file backend appends one JSON line per message.
SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(VAR_DIR / "sms-outbox.jsonl"))
# Twilio's REST API (no SDK): the account, its token (or TWILIO_AUTH_TOKEN_FILE), the sender.
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = envsecret("TWILIO_AUTH_TOKEN", "") or ""
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
# Twilio's API root.
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="https://api.twilio.com")

# --- Security -------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production.")

# --- Video: Janus VideoRoom and coturn (apps/video) -----------------------------------
# Django signs every Janus token and TURN credential and drives rooms over Janus's private HTTP
# API; browsers reach only JANUS_WS_URL (nginx's wss://<site>/janus/ in production) and TURN.
# `make run` writes these into var/video.env (deploy/video_dev.py); unset, rooms say plainly
# that video is not available and chat works.
VIDEO_ENABLED = env.bool("VIDEO_ENABLED", default=False)
JANUS_HTTP_URL = env.str("JANUS_HTTP_URL", default="http://127.0.0.1:8088/janus")
if not re.match(r"^https?://", JANUS_HTTP_URL):
    raise ImproperlyConfigured("JANUS_HTTP_URL must be an http:// or https:// URL.")
# Empty: the page's own origin at /janus/ (ws:// or wss:// as the page), as nginx serves it.
JANUS_WS_URL = env.str("JANUS_WS_URL", default="")
JANUS_TOKEN_SECRET = envsecret("JANUS_TOKEN_SECRET", "") or ""
JANUS_ADMIN_KEY = envsecret("JANUS_ADMIN_KEY", "") or ""
TURN_SECRET = envsecret("TURN_SECRET", "") or ""
TURN_URLS = env.list("TURN_URLS", default=[])
# Browsers use only relayed candidates (tests of the TURN path; a clinic whose patients sit
# behind networks that block UDP to the media server).
VIDEO_FORCE_RELAY = env.bool("VIDEO_FORCE_RELAY", default=False)
# A Janus and a TURN credential live until the session or visit ends plus this margin, and
# at most this long: Janus checks the token on every request of its session.
VIDEO_TOKEN_MAX_SECONDS = env.int("VIDEO_TOKEN_MAX_SECONDS", default=4 * 3600)
# Participants in a group room's media room (15 members plus facilitators).
VIDEO_MAX_PUBLISHERS = env.int("VIDEO_MAX_PUBLISHERS", default=20)
if VIDEO_ENABLED and not (JANUS_TOKEN_SECRET and JANUS_ADMIN_KEY and TURN_SECRET):
    raise ImproperlyConfigured(
        "VIDEO_ENABLED needs JANUS_TOKEN_SECRET, JANUS_ADMIN_KEY and TURN_SECRET."
    )
CSP_MEDIA_ORIGINS = env.list("CSP_MEDIA_ORIGINS", default=[])
if JANUS_WS_URL:
    _janus_origin = re.match(r"^(wss?://[^/]+)", JANUS_WS_URL)
    if not _janus_origin:
        raise ImproperlyConfigured("JANUS_WS_URL must be a ws:// or wss:// URL.")
    CSP_MEDIA_ORIGINS.append(_janus_origin.group(1))

# --- Browser policies: Content-Security-Policy and Permissions-Policy -------------------
# Scripts and styles come only from our own static files: no inline script or event handler,
# no eval (htmx is configured without it in base.html), no style attributes. A template that
# must keep an inline block gives it nonce="{{ request.csp_nonce }}". Images may be data: URIs
# (the TOTP QR code, the empty favicon). apps.core.headers adds this host's ws(s):// origin to
# connect-src; CSP_MEDIA_ORIGINS adds a video server's origins (e.g. wss://janus.example.org).
for _origin in CSP_MEDIA_ORIGINS:
    if not re.fullmatch(r"(wss|https|ws|http)://[A-Za-z0-9.-]+(:[0-9]{1,5})?", _origin):
        raise ImproperlyConfigured(f"CSP_MEDIA_ORIGINS: {_origin!r} is not a scheme://host[:port]")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF, *CSP_MEDIA_ORIGINS],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Powerful features no page needs are denied to every page and frame. Camera, microphone and
# screen sharing are allowed only on pages decorated with apps.core.headers.media_capture_allowed
# (group rooms; visits), which add PERMISSIONS_POLICY_MEDIA to this policy; what else live
# video needs (screen-wake-lock, speaker-selection) goes there too.
PERMISSIONS_POLICY: dict[str, str | list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
PERMISSIONS_POLICY_MEDIA: dict[str, str | list[str]] = {
    "camera": "self",
    "microphone": "self",
    "display-capture": "self",
}

# --- Logging: no PHI. Request logs carry ids, never bodies or query strings. -----------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line names the request or socket it was written for (the X-Request-ID the
    # response carries and the audit trail records), or "-" outside one.
    "filters": {"request_id": {"()": "apps.core.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {
            # Database errors print as class and SQLSTATE only: their text holds values.
            "()": "apps.core.logs.PHISafeFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # At DEBUG it logs every statement with its parameters: never below WARNING.
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

# --- Error reports: Sentry, only when SENTRY_DSN (or SENTRY_DSN_FILE) is set ------------
# Django and Celery errors, with no personal data: apps/core/sentry.py scrubs every event.
SENTRY_DSN = envsecret("SENTRY_DSN", "") or ""
if SENTRY_DSN:
    from apps.core.sentry import sentry_init

    sentry_init(dsn=SENTRY_DSN, environment=DJANGO_ENV)
