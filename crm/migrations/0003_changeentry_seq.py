"""The sequence that orders change-feed rows inside one transaction (PostgreSQL only)."""

from django.db import migrations


def create_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE SEQUENCE IF NOT EXISTS crm_changeentry_seq")


def drop_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SEQUENCE IF EXISTS crm_changeentry_seq")


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_initial")]

    operations = [migrations.RunPython(create_sequence, drop_sequence)]
