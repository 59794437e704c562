from __future__ import annotations

from django.urls import path

from .views import dashboard, repositories, rules, selection, tags

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
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
]
