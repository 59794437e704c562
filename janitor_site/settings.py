"""Registry Janitor settings: one module, read from the environment.

Every value has a safe development default only where DEBUG is on; production
must set SECRET_KEY, CREDENTIALS_KEY and REDIS_URL. See .env.example for the full list.

The readers below fail loudly: a malformed boolean or number (`DEBUG=ture`) stops
the process with an error that names the variable, rather than quietly meaning
False or the default. An empty value counts as unset.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

# Django's generic classes (ModelAdmin[Registry], QuerySet[Tag]) subscriptable at run time,
# as the type annotations write them.
django_stubs_ext.monkeypatch()

# Values already in the environment win over the file's.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Lower case: Django would take upper-case module names for settings.
_true_words = frozenset({"1", "true", "yes", "on"})
_false_words = frozenset({"0", "false", "no", "off"})
_database_engines = {
    "sqlite": "django.db.backends.sqlite3",
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
}


def _raw(name: str) -> str | None:
    """The variable's value; None when unset or blank. Kept as written (a key may hold
    any character); the number and boolean readers strip it."""
    value = os.environ.get(name, "")
    return value if value.strip() else None


def env_str(name: str, default: str) -> str:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.strip().lower() in _true_words:
        return True
    if value.strip().lower() in _false_words:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean: use one of 1, true, yes, on, 0, false, no, off."
    )


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name}={value!r} is below its minimum of {minimum}.")
    return number


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
    if not number >= minimum:  # also refuses nan
        raise ImproperlyConfigured(f"{name}={value!r} is below its minimum of {minimum:g}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    """Comma-separated; blanks around the commas are ignored."""
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_database(name: str, default: str) -> dict[str, Any]:
    """A database URL (sqlite:///path or postgres://user:password@host:port/name)."""
    url = env_str(name, default)
    scheme, separator, _ = url.partition("://")
    engine = _database_engines.get(scheme) if separator else None
    try:
        config = environ.Env.db_url_config(url) if engine else {}
    except ValueError as exc:  # a port that is not a number, for one
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}.") from None
    if not config.get("NAME"):
        raise ImproperlyConfigured(
            f"{name} must be a sqlite:///PATH or postgres://USER@HOST:PORT/NAME URL."
        )
    return config


DEBUG = env_bool("DEBUG", default=False)

_DEV_SECRET_KEY = "dev-only-insecure-secret-key-registry-janitor"
SECRET_KEY = env_str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

# Fernet key that encrypts registry passwords and tokens at rest. In development
# it is derived from SECRET_KEY so that `make demo` needs no setup.
CREDENTIALS_KEY = env_str(
    "CREDENTIALS_KEY",
    default=base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
    if DEBUG
    else "",
)
if not CREDENTIALS_KEY:
    raise ImproperlyConfigured(
        "CREDENTIALS_KEY must be set when DEBUG is off "
        "(generate one with: python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())')."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "registry",
]
# The demo and test kit (`manage.py demo`, `seed_demo_registry`) is not shipped in the
# production image: its commands exist only where the package does. `devtools.apps`, not
# `devtools`, so that an unrelated installed package of that name does not count.
if importlib.util.find_spec("devtools") and importlib.util.find_spec("devtools.apps"):
    INSTALLED_APPS.append("devtools")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Every page needs a login; an HTMX request from an expired session redirects the page.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "registry.middleware.htmx_login_redirect",
    # Last: it turns a login from a locked-out user and address into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "janitor_site.urls"
WSGI_APPLICATION = "janitor_site.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env_database("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'janitor.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a sync writes; the timeout makes
    # writers wait for each other instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    VAR_DIR.mkdir(exist_ok=True)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The JIT compiles the dashboard's aggregates at length and saves nothing at this
    # size: every page query is index-bound (docs/benchmarks.md).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# --- Failed logins (django-axes) ---------------------------------------------
# After LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that
# pair is locked out for LOGIN_LOCKOUT_MINUTES, and the login page says so and for how
# long. Every failure is logged (logger "axes"), with the username and the address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", default=5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", default=15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The log names the username and address of each failure (never a password): who is
# being tried, and from where, is what an operator needs from it.
AXES_SENSITIVE_PARAMETERS: list[str] = []
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
# Behind a TLS-terminating proxy every request comes from the proxy: name how many
# proxies stand in front, so that the client's own address is taken from X-Forwarded-For.
AXES_IPWARE_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

# --- Serving over TLS ---------------------------------------------------------
# In production the dashboard sits behind a TLS-terminating proxy (see README,
# "Production"): it says a request came over HTTPS with X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", default=False) else None
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
# The browsers' preload list takes whole domains, not a dashboard on a subdomain of one:
# Django's advice to preload does not apply (set SECURE_HSTS_PRELOAD where it does).
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Password reset by email exists only where email is configured (EMAIL_HOST); without
# it the anonymous reset pages are not served at all.
EMAIL_HOST = env_str("EMAIL_HOST", default="")
EMAIL_PORT = env_int("EMAIL_PORT", default=587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", default="registry-janitor@localhost")
PASSWORD_RESET_BY_EMAIL = bool(EMAIL_HOST)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# In development WhiteNoise serves straight from the apps' static folders (no collectstatic).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Celery -----------------------------------------------------------------
# One way to run background work: a Celery worker on Redis (`make demo` starts both).
REDIS_URL = env_str("REDIS_URL", default="redis://127.0.0.1:6379/0" if DEBUG else "")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL must be set when DEBUG is off: syncs and deletions run on a Celery worker."
    )
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With acks_late, Redis hands an unacknowledged task (its worker died) to another worker
# after this many seconds. Deletion batches hold a lease, so an early redelivery waits.
# Workers look for such tasks every CELERY_RESTORE_INTERVAL_SECONDS (kombu's default
# throttle would make that every 100 s).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=3600, minimum=1),
    "unacked_restore_interval": env_int("CELERY_RESTORE_INTERVAL_SECONDS", default=10, minimum=1),
    "unacked_restore_throttle": 1,
}
SYNC_INTERVAL_MINUTES = env_int("SYNC_INTERVAL_MINUTES", default=30, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "sync-all-registries": {
        "task": "registry.tasks.sync_all_registries",
        "schedule": SYNC_INTERVAL_MINUTES * 60.0,
    },
    # Deletion batches no worker runs (their task was lost, or their worker died).
    "requeue-stuck-batches": {
        "task": "registry.tasks.requeue_stuck_batches",
        "schedule": 60.0,
    },
    # Registry events no worker applies (their task was lost); old events forgotten.
    "apply-stalled-events": {
        "task": "registry.tasks.apply_stalled_events",
        "schedule": 60.0,
    },
    # Cleanup policies whose time has come. Each policy stores its next due time, claimed
    # with a conditional UPDATE (registry.policies.schedule): one fixed entry here serves
    # every policy, a missed schedule runs once, and no second schedule store (such as
    # django-celery-beat's tables) has to be kept in step with the policies' rows.
    "run-due-policies": {
        "task": "registry.tasks.run_due_policies",
        "schedule": float(env_int("POLICY_CHECK_SECONDS", default=60, minimum=1)),
    },
}

# --- Registry client --------------------------------------------------------
REGISTRY_TIMEOUT_SECONDS = env_float("REGISTRY_TIMEOUT_SECONDS", default=15.0, minimum=0.1)
REGISTRY_CONCURRENCY = env_int("REGISTRY_CONCURRENCY", default=8, minimum=1)
REGISTRY_MAX_RETRIES = env_int("REGISTRY_MAX_RETRIES", default=4)
# Limits on what a registry may send: one answer's size, and tags in one repository.
REGISTRY_MAX_RESPONSE_MB = env_int("REGISTRY_MAX_RESPONSE_MB", default=32, minimum=1)
REGISTRY_MAX_TAGS_PER_REPOSITORY = env_int(
    "REGISTRY_MAX_TAGS_PER_REPOSITORY", default=100_000, minimum=1
)
# Requests in flight at once to a registry's GitLab (its REST API) during a sync.
GITLAB_CONCURRENCY = env_int("GITLAB_CONCURRENCY", default=4, minimum=1)
# A sync renews its lock as it goes; a lock not renewed for this long belongs to a dead
# worker, and the next sync may start.
SYNC_LOCK_TTL_SECONDS = env_int("SYNC_LOCK_TTL_SECONDS", default=600, minimum=1)
# A sync that runs longer than this is stopped (Celery's soft time limit) and says so.
SYNC_TIME_LIMIT_SECONDS = env_int("SYNC_TIME_LIMIT_SECONDS", default=4 * 3600, minimum=60)
# A deletion batch's worker renews its lease after every few items; a lease older than
# this belongs to a dead worker, and a redelivered task takes the batch over.
DELETION_LEASE_SECONDS = env_int("DELETION_LEASE_SECONDS", default=120, minimum=1)

# --- Registry notifications (registry.events) ----------------------------------
# A delivery larger than this is refused with 413 (distribution sends a few KB).
EVENTS_MAX_BODY_KB = env_int("EVENTS_MAX_BODY_KB", default=1024, minimum=1)
# Handled events are kept this long, so that a redelivered event id changes nothing.
EVENTS_RETENTION_DAYS = env_int("EVENTS_RETENTION_DAYS", default=7, minimum=1)
# A registry whose last event came within this many minutes shows as "live".
EVENTS_LIVE_MINUTES = env_int("EVENTS_LIVE_MINUTES", default=60, minimum=1)

# --- Cleanup policies (registry.policies) -----------------------------------------
# The dashboard's address as people reach it: the links in policy emails and chat messages.
SITE_URL = env_str("SITE_URL", default="http://127.0.0.1:8000")
# A notice (email, webhook) that fails is tried again this many times, after
# POLICY_NOTICE_BACKOFF_SECONDS, then twice that, and so on.
POLICY_NOTICE_RETRIES = env_int("POLICY_NOTICE_RETRIES", default=5)
POLICY_NOTICE_BACKOFF_SECONDS = env_float("POLICY_NOTICE_BACKOFF_SECONDS", default=30.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", default="INFO")},
    "loggers": {"urllib3": {"level": "WARNING"}},
}
