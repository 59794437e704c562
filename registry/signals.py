"""Roles exist on every database: created after each migrate."""

from __future__ import annotations

from typing import Any


def create_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    from .roles import ensure_roles

    ensure_roles()
