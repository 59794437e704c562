"""Roles are Django groups: viewers browse, janitors also sync and delete, admins manage."""

from __future__ import annotations

# The permission that plans and confirms deletions (web and `manage.py cleanup`).
DELETE_PERMISSION = "registry.delete_images"

VIEWERS = "Viewers"
JANITORS = "Janitors"
ADMINS = "Registry admins"

VIEW_PERMISSIONS = [
    "registry.view_registry",
    "registry.view_repository",
    "registry.view_tag",
    "registry.view_manifest",
    "registry.view_syncrun",
    "registry.view_cleanuppolicy",
]
ROLE_PERMISSIONS: dict[str, list[str]] = {
    VIEWERS: VIEW_PERMISSIONS,
    JANITORS: [*VIEW_PERMISSIONS, "registry.sync_registry", DELETE_PERMISSION],
    ADMINS: [
        *VIEW_PERMISSIONS,
        "registry.sync_registry",
        DELETE_PERMISSION,
        "registry.add_registry",
        "registry.change_registry",
        "registry.delete_registry",
        "registry.add_stalenessrules",
        "registry.change_stalenessrules",
        "registry.add_cleanuppolicy",
        "registry.change_cleanuppolicy",
        "registry.delete_cleanuppolicy",
    ],
}


def ensure_roles() -> None:
    """Create the groups with their permissions (idempotent; run after migrate)."""
    from django.contrib.auth.models import Group, Permission

    for group_name, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        permissions = []
        for code in codes:
            app_label, codename = code.split(".")
            permissions.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(permissions)
