from __future__ import annotations

from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Only here for the `demo` and `seed_demo_registry` commands: no models, no URLs."""

    name = "devtools"
    verbose_name = "Demo and test kit"
