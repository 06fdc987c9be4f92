from django.db import migrations

# As 0017 created it (PostgreSQL only).
WALK_INDEX = "CREATE INDEX enterprise_capital_walk_idx ON crm_enterprise (registered_capital, id DESC) WHERE merged_into_id IS NULL"


def drop_walk_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS enterprise_capital_walk_idx")


def create_walk_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(WALK_INDEX)


class Migration(migrations.Migration):
    """The candidates' walk by capital reads the stage's capabilities, which carry their
    enterprise's capital (crm/0014): the enterprises' own capital index of 0017 has no
    reader left, and every enterprise write kept it."""

    dependencies = [
        ("recruitment", "0020_period_covering_indexes"),
        ("crm", "0014_capability_capital"),
    ]

    operations = [
        migrations.RunPython(drop_walk_index, create_walk_index),
    ]
