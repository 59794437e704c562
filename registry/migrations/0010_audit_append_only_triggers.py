"""On PostgreSQL, the database itself refuses to change finished audit rows or to delete any.

The models refuse the same (registry.models.AppendOnlyModel); the triggers also
hold against raw SQL and other clients. TRUNCATE is not covered: it is what the
test suite's flush uses, and it needs table ownership anyway.
"""

from __future__ import annotations

from django.db import migrations

OPEN_STATUSES = "('planned', 'queued', 'running')"

FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION janitor_refuse_audit_delete() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the deletion audit log is append-only: % rows are never deleted', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION janitor_refuse_finished_batch_update() RETURNS trigger AS $$
BEGIN
    IF OLD.status NOT IN {OPEN_STATUSES} THEN
        RAISE EXCEPTION 'the deletion audit log is append-only: batch % is finished', OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION janitor_refuse_finished_item_update() RETURNS trigger AS $$
BEGIN
    IF OLD.outcome <> 'pending' THEN
        RAISE EXCEPTION 'the deletion audit log is append-only: item % is finished', OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

TRIGGERS = """
CREATE TRIGGER registry_deletionbatch_no_delete BEFORE DELETE ON registry_deletionbatch
    FOR EACH ROW EXECUTE FUNCTION janitor_refuse_audit_delete();
CREATE TRIGGER registry_deletionitem_no_delete BEFORE DELETE ON registry_deletionitem
    FOR EACH ROW EXECUTE FUNCTION janitor_refuse_audit_delete();
CREATE TRIGGER registry_deletionbatch_frozen BEFORE UPDATE ON registry_deletionbatch
    FOR EACH ROW EXECUTE FUNCTION janitor_refuse_finished_batch_update();
CREATE TRIGGER registry_deletionitem_frozen BEFORE UPDATE ON registry_deletionitem
    FOR EACH ROW EXECUTE FUNCTION janitor_refuse_finished_item_update();
"""

DROP = """
DROP TRIGGER IF EXISTS registry_deletionbatch_no_delete ON registry_deletionbatch;
DROP TRIGGER IF EXISTS registry_deletionitem_no_delete ON registry_deletionitem;
DROP TRIGGER IF EXISTS registry_deletionbatch_frozen ON registry_deletionbatch;
DROP TRIGGER IF EXISTS registry_deletionitem_frozen ON registry_deletionitem;
DROP FUNCTION IF EXISTS janitor_refuse_audit_delete();
DROP FUNCTION IF EXISTS janitor_refuse_finished_batch_update();
DROP FUNCTION IF EXISTS janitor_refuse_finished_item_update();
"""


def create_triggers(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTIONS + TRIGGERS, params=None)


def drop_triggers(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("registry", "0009_deletion_audit")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
