"""A batch may be the retry of an earlier one's failed tags (`retry_of`), fixed once planned.

On PostgreSQL the identity trigger of 0012 (as 0017 left it, guarding the policy's name)
learns the new column too, so that the link between a retry and the batch it retries can
never be rewritten.
"""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models

IDENTITY_FUNCTION = """
CREATE OR REPLACE FUNCTION janitor_refuse_batch_identity_change() RETURNS trigger AS $$
BEGIN
    IF NEW.planned_by_username IS DISTINCT FROM OLD.planned_by_username
       OR NEW.planned_by_id IS DISTINCT FROM OLD.planned_by_id
       OR NEW.planned_at IS DISTINCT FROM OLD.planned_at
       OR NEW.registry_name IS DISTINCT FROM OLD.registry_name
       OR NEW.source IS DISTINCT FROM OLD.source
       OR NEW.policy_name IS DISTINCT FROM OLD.policy_name
       {retry_of} THEN
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
"""


def guard_retry_of(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        sql = IDENTITY_FUNCTION.format(
            retry_of="OR NEW.retry_of_id IS DISTINCT FROM OLD.retry_of_id"
        )
        schema_editor.execute(sql, params=None)


def unguard_retry_of(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(IDENTITY_FUNCTION.format(retry_of=""), params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0017_policies"),
    ]

    operations = [
        migrations.AddField(
            model_name="deletionbatch",
            name="retry_of",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="retries",
                to="registry.deletionbatch",
            ),
        ),
        migrations.RunPython(guard_retry_of, unguard_retry_of),
    ]
