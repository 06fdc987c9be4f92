from django.db import migrations, models


def create_key_index(apps, schema_editor):
    # SQLite only: PostgreSQL counts them from the pipeline tally (recruitment.tally).
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("CREATE INDEX project_key_park_status_idx ON recruitment_project (id, park_id, status)")
        # SQLite's planner weighs an index without statistics as a guess, and on a filled
        # directory guesses wrong (the gap map 93 → 305 ms): measure the new indexes now.
        schema_editor.execute("ANALYZE")


def drop_key_index(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP INDEX IF EXISTS project_key_park_status_idx")


class Migration(migrations.Migration):
    """A stage's panel on the gap map (recruitment.gaps.gap_stage_panel) joins the stage's
    project links to the park's listed projects: both sides read from an index alone.
    The links table is the many-to-many table Django makes for ``Project.stages``, so
    its index is written here. On SQLite a gap map counts a chain's projects by park, stage
    and status from the links: each link's project is read from an index alone."""

    dependencies = [
        ("recruitment", "0013_tally_dated"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="project", name="project_park_status_idx"),
        migrations.AddIndex(
            model_name="project",
            index=models.Index(
                fields=["park", "status"], include=["id", "title", "office"], name="project_park_listed_idx"
            ),
        ),
        migrations.RunSQL(
            "CREATE INDEX project_stages_stage_project_idx ON recruitment_project_stages (stage_id, project_id)",
            "DROP INDEX project_stages_stage_project_idx",
        ),
        migrations.RunPython(create_key_index, drop_key_index),
    ]
