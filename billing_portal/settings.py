"""Settings, read from the environment (see README.md, "Configuration").

Unset DATABASE_URL means an SQLite file in the project (the embedded default);
unset REDIS_URL means Celery runs tasks in-process, so nothing else needs to run.
"""

import datetime
import os
from email.utils import parseaddr
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-for-debug"

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h]
if DEBUG and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    # Django's admin with the portal's site (staff/site.py): throttled sign-in, second factor.
    "staff.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "core",
    "audit",
    "tenants",
    "logins",
    "catalog",
    "orders",
    "balances",
    "invoices",
    "payments",
    "renewals",
    "notifications",
    # Outbound, signed webhooks to resellers' endpoints.
    "webhooks",
    "interchange",
    # Private iCal feeds of what renews when.
    "calendars",
    # Paying requests at most once, for the panels and the API.
    "once",
    "panels",
    "api",
    "demo",
    # After django_otp and django_celery_beat: staff/admin.py replaces their admins.
    "staff",
]

MIDDLEWARE = [
    # First: a body over MAX_REQUEST_BODY_BYTES answers 413 before anything reads it.
    "core.limits.request_body_limit",
    "django.middleware.security.SecurityMiddleware",
    # The client's address for the audit log, for the whole request (core.net).
    "core.request_context.ClientAddressMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): signed in with a second factor (the admin asks for one).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "billing_portal.urls"

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
                "panels.context.panel",
            ],
        },
    },
]

WSGI_APPLICATION = "billing_portal.wsgi.application"
ASGI_APPLICATION = "billing_portal.asgi.application"

# The embedded default is an SQLite file in the project; production sets
# DATABASE_URL=postgres://... (locks, triggers and concurrency are proven there).
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The platform's billing day: a business date is "today" in this zone.
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

FORMAT_MODULE_PATH = ["billing_portal.formats"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Staff sign in to the admin with a second factor (an authenticator app or a
# recovery code, staff/otp.py) and enrol on their first sign-in. On unless
# turned off (the demo and development: make demo sets 0).
ADMIN_OTP_REQUIRED = env_bool("ADMIN_OTP_REQUIRED", True)
OTP_TOTP_ISSUER = "Renewal portal"
# The admin's device pages never show a key, QR code or recovery code.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Wrong codes: django-otp's own throttle stays at its default
# (OTP_TOTP_THROTTLE_FACTOR = OTP_STATIC_THROTTLE_FACTOR = 1: a device waits
# 1, 2, 4, 8... seconds after successive failures), under the sign-in throttle.

# Mail: console in development unless a backend is chosen.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
# Notice delivery (notifications.delivery): notices per batch, each batch over
# one SMTP connection; and the most one delivery run may take (a run stops
# taking batches then, and hands back what it had no time for). Every SMTP
# operation is bounded by EMAIL_TIMEOUT besides.
NOTICE_BATCH_SIZE = int(os.environ.get("NOTICE_BATCH_SIZE", "500"))
NOTICE_DELIVERY_SECONDS = int(os.environ.get("NOTICE_DELIVERY_SECONDS", "240"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "billing@portal.test")
# Where the panels are, for the links in notices.
PORTAL_URL = os.environ.get("PORTAL_URL", "http://127.0.0.1:8000")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
# The platform's operators: mailed once per fault of the nightly work (core.isolation),
# e.g. ADMINS="Ops <ops@example.com>,oncall@example.com".
ADMINS = [parseaddr(a.strip()) for a in os.environ.get("ADMINS", "").split(",") if a.strip()]
EMAIL_SUBJECT_PREFIX = os.environ.get("EMAIL_SUBJECT_PREFIX", "[Renewal portal] ")

# Celery: Redis in production; without REDIS_URL, tasks run in-process.
REDIS_URL = os.environ.get("REDIS_URL", "")
# The cache holds the sign-in throttle's counters: shared through Redis when
# there is one, else kept per process.
# With Redis down, each process counts on its own meanwhile (core.cache).
CACHES = {
    "default": {"BACKEND": "core.cache.ResilientRedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
CELERY_BROKER_URL = REDIS_URL or "memory://"
# Results live in the database (runs, attempts); a result backend is optional.
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Mail goes out on its own queue, served by its own worker (docker-compose's
# "mailer"): a slow or hanging mail server never holds up the nightly run's
# workers, and the nightly work never waits for the mail.
CELERY_TASK_ROUTES = {"renewals.tasks.deliver_notices": {"queue": "notices"}}

# Security headers on every response. The Content-Security-Policy allows only
# this origin's own files: no inline script or style anywhere (templates pass
# data through data- attributes and json_script). The few pages that need
# more widen it for themselves only (core/csp.py): the add-card page
# (Stripe.js) and the API docs (Swagger UI, Redoc).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Stripe (the card issue fills in the card path; the keys live here already).
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
STRIPE_JS_URL = os.environ.get("STRIPE_JS_URL", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
# The sweep's card step: accounts charged at once by each sweep worker
# (PostgreSQL; one on SQLite), and requests a second to Stripe from all the
# portal's processes together (shared through Redis when REDIS_URL is set;
# 0: no limit). Stripe allows 25 a second in test mode, 100 in live mode.
CARD_CONCURRENCY = int(os.environ.get("CARD_CONCURRENCY") or 12)
CARD_RATE_PER_SECOND = int(os.environ.get("CARD_RATE_PER_SECOND") or 24)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.TokenAuthentication",  # knox: only a digest of each key is stored
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON read strictly: too deep, NaN or Infinity is a 400 (api/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pages",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    # Per token (one per login) and per address for anonymous calls.
    # The address is core.net.client_address's (TRUSTED_PROXY_COUNT), not DRF's NUM_PROXIES.
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.UserThrottle",
        "api.throttling.AnonThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("API_RATE_USER", "1200/hour"),
        "anon": os.environ.get("API_RATE_ANON", "60/hour"),
    },
}
# API tokens (django-rest-knox, api/authentication.py): a token expires
# API_TOKEN_TTL_DAYS after it is issued (0: never), whether or not it is used
# (no AUTO_REFRESH: a leaked key stops working on its date, even if it is used
# all along); its login gets a new one with POST /api/auth/token/.
API_TOKEN_TTL_DAYS = int(os.environ.get("API_TOKEN_TTL_DAYS", "90"))
if API_TOKEN_TTL_DAYS < 0:
    raise ImproperlyConfigured("API_TOKEN_TTL_DAYS is a number of days, 0 for tokens that never expire")
REST_KNOX = {
    "TOKEN_TTL": datetime.timedelta(days=API_TOKEN_TTL_DAYS) if API_TOKEN_TTL_DAYS else None,
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Renewal portal API",
    "DESCRIPTION": (
        "Everything a reseller or customer can do in the control panels, over HTTP, scoped the same way. "
        "Authenticate with `Authorization: Token <key>` (POST /api/auth/token/). Errors share one shape: "
        '`{"error": {"status", "code", "message", "fields"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two lists show a "status" of their own (an order's, an open renewal's): each its enum's name.
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "orders.states.OrderStatus.choices",
        "OpenRenewalStatusEnum": "renewals.models.OpenRenewalStatus",
        "WebhookEventTypeEnum": "webhooks.models.EventType",
    },
}

# How many reverse proxies in front of the portal append to X-Forwarded-For
# (core/net.py): 0 (the default) trusts none and uses the peer's address.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

# The largest request body accepted, in bytes (core/limits.py: larger answers
# 413 unread). 2.5 MB, Django's own default for form data: no page or API
# call of the portal sends more (imports go through manage.py import_portal).
MAX_REQUEST_BODY_BYTES = int(os.environ.get("MAX_REQUEST_BODY_BYTES", str(5 * 2**19)))
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

# HTTPS (README "Deploying behind a proxy"): on by default when DEBUG is off,
# so a production deploy passes `manage.py check --deploy`; each can be turned
# off from the environment.
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    # The header the TLS-terminating proxy sets (overwriting the client's) to
    # "https", e.g. X-Forwarded-Proto or HTTP_X_FORWARDED_PROTO.
    _header = os.environ["SECURE_PROXY_SSL_HEADER"].strip().upper().replace("-", "_")
    SECURE_PROXY_SSL_HEADER = (_header if _header.startswith("HTTP_") else f"HTTP_{_header}", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Health checks over plain HTTP from inside the container or the host are not redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^healthz/live$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS") or (0 if DEBUG else 31536000))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # The Stripe SDK logs every request at INFO; fontTools ~100 lines per PDF
    # invoice (its font subsetting, invoices/pdf.py).
    "loggers": {"stripe": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}

# How the nightly sweep uses the cores without a broker (PostgreSQL only):
# SWEEP_WORKERS batches at once (default: the cores plus one), in "processes" or
# "threads" (SWEEP_POOL).
if os.environ.get("SWEEP_WORKERS"):
    SWEEP_WORKERS = int(os.environ["SWEEP_WORKERS"])
if os.environ.get("SWEEP_BATCH_SIZE"):
    SWEEP_BATCH_SIZE = int(os.environ["SWEEP_BATCH_SIZE"])
SWEEP_POOL = os.environ.get("SWEEP_POOL", "processes")

# Dunning (docs/dunning.md): the platform's retry policy, for resellers
# without one of their own: the days before expiry a failed auto-renewal is
# tried again ("7,3,1,0"; empty or unset: every night of the window) and the
# night whose failure sends the last-chance notice. Checked here by the
# rule every door uses: a bad value stops the start with the reason.
try:
    from tenants.rules import retry_days_parse, retry_policy_problem

    RENEWAL_RETRY_DAYS = retry_days_parse(os.environ.get("RENEWAL_RETRY_DAYS", ""))
    _last_chance = os.environ.get("RENEWAL_LAST_CHANCE_DAY", "").strip() or "0"
    if not _last_chance.isdigit():
        raise ValueError(f"{_last_chance!r} is not a whole number of days before expiry")
    RENEWAL_LAST_CHANCE_DAY = int(_last_chance)
    if _problem := retry_policy_problem(RENEWAL_RETRY_DAYS, RENEWAL_LAST_CHANCE_DAY):
        raise ValueError(_problem)
except ValueError as _exc:
    raise ImproperlyConfigured(f"RENEWAL_RETRY_DAYS / RENEWAL_LAST_CHANCE_DAY: {_exc}") from _exc

# Resellers' webhook endpoints (docs/webhooks.md) must be https; plain http
# to localhost is allowed only with this on (by default when DEBUG is).
WEBHOOK_INSECURE_LOOPBACK = env_bool("WEBHOOK_INSECURE_LOOPBACK", DEBUG)
