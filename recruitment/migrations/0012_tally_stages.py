from django.db import migrations, models


class Migration(migrations.Migration):
    """The pipeline tally counts each project once per target stage too ("t" rows), for the
    gap analysis' projects per park and stage. The functions that write them, and the
    tally counted with them, were installed by 0011."""

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
    ]
