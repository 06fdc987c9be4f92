from django.db import migrations, models


def analyze_on_sqlite(apps, schema_editor):
    # SQLite drops an index's statistics with it, and weighs an index without them as a guess.
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("ANALYZE recruitment_project")


class Migration(migrations.Migration):
    """The dashboard filtered by a period reads its projects from two indexes alone.

    The range of the status change carries every column the dashboard counts or filters
    the period's projects by (its grouped totals, its follow-ups' semi-join and its stale
    list then read no project rows), and the creation order carries the status change and
    the status: the stale list walks it oldest first and passes the projects outside the
    period (some 69,000 of 100,000 for the first half of 2026) without reading their rows.
    SQLite has no included columns: there both indexes stay what they were.
    """

    dependencies = [
        ("recruitment", "0019_tally_deferred"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="project", name="project_created_page_idx"),
        migrations.RemoveIndex(model_name="project", name="project_status_changed_idx"),
        migrations.AddIndex(
            model_name="project",
            index=models.Index(
                fields=["status_changed_at"],
                include=(
                    "id",
                    "park",
                    "owner",
                    "office",
                    "status",
                    "created_at",
                    "planned_investment",
                    "signed_amount",
                    "funds_in_place",
                    "expected_output_value",
                    "last_touched_at",
                ),
                name="project_status_changed_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="project",
            index=models.Index(
                fields=["-created_at", "-id"], include=("status_changed_at", "status"), name="project_created_page_idx"
            ),
        ),
        migrations.RunPython(analyze_on_sqlite, migrations.RunPython.noop),
    ]
