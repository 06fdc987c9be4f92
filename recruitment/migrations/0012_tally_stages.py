from django.db import migrations, models

import recruitment.tally


class Migration(migrations.Migration):
    """The pipeline tally counts each project once per target stage too ("t" rows), for the
    gap analysis' projects per park and stage."""

    dependencies = [
        ("recruitment", "0011_pipeline_tally_scopes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="pipelinetally",
            name="kind",
            field=models.CharField(
                choices=[("p", "project"), ("c", "chain"), ("s", "sector"), ("t", "stage")], max_length=1
            ),
        ),
        # Forward: the functions that write "t" rows, and the tally counted again. Backward
        # there is nothing to undo that the code of the time would not redo.
        migrations.RunPython(recruitment.tally.refresh, migrations.RunPython.noop),
    ]
