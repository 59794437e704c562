"""The Celery app: workers and beat take their broker (REDIS_URL) from the settings."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "janitor_site.settings")

app = Celery("janitor_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
