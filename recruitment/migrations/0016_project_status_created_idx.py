"""The project list filtered by a status, in its default order, read from an index."""

from django.db import migrations, models


def analyze_on_sqlite(apps, schema_editor):
    # SQLite's planner weighs an index without statistics as a guess (see 0014).
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("ANALYZE recruitment_project")


class Migration(migrations.Migration):
    dependencies = [
        ("recruitment", "0015_sqlite_title_search"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="project",
            index=models.Index(fields=["status", "-created_at", "-id"], name="project_status_created_idx"),
        ),
        migrations.RunPython(analyze_on_sqlite, migrations.RunPython.noop),
    ]
