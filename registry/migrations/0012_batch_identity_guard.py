"""On PostgreSQL, who planned and who confirmed a batch can never be rewritten.

A finished batch is frozen whole (0010). While a batch is open (planned, queued,
running) the run updates its progress, but the names the audit log keeps must hold
from the start: who planned it, from where and when, and — once someone confirmed
it — who and when. The models refuse the same (registry.models.audit); the trigger
also holds against raw SQL and any other client of the app's database role.
"""

from __future__ import annotations

import django.utils.timezone
from django.db import migrations, models

FUNCTION = """
CREATE OR REPLACE FUNCTION janitor_refuse_batch_identity_change() RETURNS trigger AS $$
BEGIN
    IF NEW.planned_by_username IS DISTINCT FROM OLD.planned_by_username
       OR NEW.planned_by_id IS DISTINCT FROM OLD.planned_by_id
       OR NEW.planned_at IS DISTINCT FROM OLD.planned_at
       OR NEW.registry_name IS DISTINCT FROM OLD.registry_name
       OR NEW.source IS DISTINCT FROM OLD.source THEN
        RAISE EXCEPTION 'the deletion audit log keeps who planned batch % and when', OLD.id;
    END IF;
    IF OLD.confirmed_by_username <> ''
       AND (NEW.confirmed_by_username IS DISTINCT FROM OLD.confirmed_by_username
            OR NEW.confirmed_at IS DISTINCT FROM OLD.confirmed_at
            OR NEW.reason IS DISTINCT FROM OLD.reason) THEN
        RAISE EXCEPTION 'the deletion audit log keeps who confirmed batch %, when and why', OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER registry_deletionbatch_identity BEFORE UPDATE ON registry_deletionbatch
    FOR EACH ROW EXECUTE FUNCTION janitor_refuse_batch_identity_change();
"""

DROP = """
DROP TRIGGER IF EXISTS registry_deletionbatch_identity ON registry_deletionbatch;
DROP FUNCTION IF EXISTS janitor_refuse_batch_identity_change();
"""


def create_trigger(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)


def drop_trigger(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("registry", "0011_drop_unread_timestamps")]

    operations = [
        # Set once when the row is made (as auto_now_add did), but a value given at
        # creation is kept: history imported or dated in tests is never rewritten after.
        migrations.AlterField(
            model_name="deletionbatch",
            name="planned_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
