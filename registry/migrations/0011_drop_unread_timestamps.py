"""Timestamps that were written on every row and read by nothing: no page, admin,
command or export showed them. Tag.first_seen, which the pages and the staleness
rules do read, stays."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0010_audit_append_only_triggers"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="manifest",
            name="first_seen",
        ),
        migrations.RemoveField(
            model_name="registry",
            name="created_at",
        ),
        migrations.RemoveField(
            model_name="repository",
            name="first_seen",
        ),
        migrations.RemoveField(
            model_name="stalenessrules",
            name="updated_at",
        ),
    ]
