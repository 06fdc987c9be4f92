from django.db import migrations

INDEX = "project_park_title_idx"


def create_title_index(apps, schema_editor):
    # PostgreSQL only: SQLite has no "C" collation, and its panel reads the stage's links.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX {INDEX} ON recruitment_project (park_id, title COLLATE "C", id) INCLUDE (status, office_id)'
        )


def drop_title_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    """A stage's panel on the gap map names the first projects of each list in title order
    (by code point) for a viewer who may read them all (recruitment.gaps._project_firsts):
    a park's projects read in that order from an index alone, each one's stage link checked
    by its key, until the panel has its few."""

    dependencies = [
        ("recruitment", "0014_stage_panel_indexes"),
    ]

    operations = [
        migrations.RunPython(create_title_index, drop_title_index),
    ]
