"""Test settings: the real settings module, with fast hashing and in-memory caches."""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "test-secret-key")

from janitor_site.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tasks run inside the request, so view tests see their outcome; the worker tests send
# them to a Redis of their own (tests.support.fixtures.tasks_sent_to). Never the
# development Redis at REDIS_URL's default: it may belong to someone else's demo.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
REGISTRY_MAX_RETRIES = 2

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: the Celery worker tests run a worker in another process.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405

# Outermost, so that a test can wait until the live server has finished every request.
MIDDLEWARE = ["tests.support.live_requests.CountRequestsInFlight", *MIDDLEWARE]  # noqa: F405
