from django.db import migrations, models


class Migration(migrations.Migration):
    """A stage's panel on the gap map (recruitment.gaps.gap_stage_panel) joins the stage's
    project links to the park's listed projects: both sides read from an index alone.
    The links table is the many-to-many table Django makes for ``Project.stages``, so
    its index is written here."""

    dependencies = [
        ("recruitment", "0012_tally_stages"),
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
    ]
