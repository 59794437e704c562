"""Registry notifications keep the cache current between syncs.

A registry (CNCF distribution, GitLab's) POSTs an event for every push, pull and
delete to the endpoint `registry.views.events.receive_events`:

- `endpoint`: each registry's secret, and the `notifications:` block to paste into
  the registry's config.yml;
- `envelope`: reading a delivery (`{"events": [...]}`) into plain events;
- `ingest`: storing them (de-duplicated on their id) and asking a worker to apply them;
- `apply`: applying them to the cache (a push reads its tag, a delete removes, a pull
  records `last_pulled`), never letting an older event undo a newer state;
- `locks`: the applier and the sync take turns on a registry;
- `freshness`: "live (last event 4 s ago)" or "synced 12 min ago", for the dashboard.

Events are at-least-once, unordered, and lost when the registry restarts: the periodic
sync stays the reconciler, and says how many differences the events had missed.
"""
