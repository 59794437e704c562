from __future__ import annotations

from django.urls import path

from .views import (
    audit,
    dashboard,
    deletions,
    events,
    policies,
    registries,
    repositories,
    rules,
    selection,
    tags,
)

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("registries/", registries.registry_list, name="registry_list"),
    path("registries/add/", registries.registry_add, name="registry_add"),
    path("registries/<slug:name>/edit/", registries.registry_edit, name="registry_edit"),
    path("registries/<slug:name>/test/", registries.registry_test, name="registry_test"),
    path("registries/<slug:name>/remove/", registries.registry_remove, name="registry_remove"),
    path("registries/<slug:name>/sync/", dashboard.sync_now, name="sync_now"),
    path("registries/<slug:name>/sync/status/", dashboard.sync_status, name="sync_status"),
    path(
        "registries/<slug:name>/repositories/",
        repositories.repository_list,
        name="repositories",
    ),
    path("registries/<slug:name>/tags/", tags.tag_list, name="tags"),
    path("registries/<slug:name>/stale/", tags.stale_tags, name="stale"),
    path("tags/<int:pk>/", tags.tag_detail, name="tag_detail"),
    path("registries/<slug:name>/rules/", rules.edit_rules, name="rules"),
    path("registries/<slug:name>/selection/", selection.selection_page, name="selection"),
    path(
        "registries/<slug:name>/selection/toggle/",
        selection.toggle_tag,
        name="selection_toggle",
    ),
    path("registries/<slug:name>/selection/page/", selection.select_page, name="selection_page"),
    path(
        "registries/<slug:name>/selection/matching/",
        selection.select_matching,
        name="selection_matching",
    ),
    path("registries/<slug:name>/selection/clear/", selection.clear, name="selection_clear"),
    path(
        "registries/<slug:name>/deletions/plan/",
        deletions.deletion_plan,
        name="deletion_plan",
    ),
    path("deletions/<int:pk>/", deletions.batch_page, name="batch"),
    path("deletions/<int:pk>/confirm/", deletions.batch_confirm, name="batch_confirm"),
    path("deletions/<int:pk>/cancel/", deletions.batch_cancel, name="batch_cancel"),
    path("deletions/<int:pk>/retry/", deletions.batch_retry, name="batch_retry"),
    path("deletions/<int:pk>/progress/", deletions.batch_progress_view, name="batch_progress"),
    # Registry notifications: the registry POSTs here with its secret (no login).
    path("registries/<slug:name>/events/", events.receive_events, name="receive_events"),
    path("registries/<slug:name>/notifications/", events.notifications, name="notifications"),
    path(
        "registries/<slug:name>/notifications/secret/",
        events.notification_secret,
        name="notification_secret",
    ),
    path("policies/", policies.policy_list, name="policy_list"),
    path("policies/add/", policies.policy_add, name="policy_add"),
    path("policies/<slug:name>/", policies.policy_detail, name="policy_detail"),
    path("policies/<slug:name>/edit/", policies.policy_edit, name="policy_edit"),
    path("policies/<slug:name>/run/", policies.policy_run_now, name="policy_run_now"),
    path("policies/runs/<int:pk>/approve/", policies.policy_approve, name="policy_approve"),
    path("audit/", audit.audit_log, name="audit"),
    path("audit/batches/", audit.audit_batches, name="audit_batches"),
    path("audit/registries/", audit.audit_registry_changes, name="audit_registry_changes"),
    path("audit/export.csv", audit.export_csv, name="audit_export_csv"),
    path("audit/export.json", audit.export_json, name="audit_export_json"),
]
