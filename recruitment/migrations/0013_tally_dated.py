from django.db import migrations, models

import recruitment.tally


class Migration(migrations.Migration):
    """The pipeline tally's dated rows: open projects by the day of their last touch ("a") and
    open follow-ups by due day ("f"), kept by the same triggers and one on follow-ups; every
    function and trigger installed again and the tally counted with them."""

    dependencies = [
        ("recruitment", "0012_tally_stages"),
    ]

    operations = [
        migrations.AddField(
            model_name="pipelinetally",
            name="day",
            field=models.DateField(null=True),
        ),
        migrations.AlterField(
            model_name="pipelinetally",
            name="kind",
            field=models.CharField(
                choices=[
                    ("p", "project"),
                    ("c", "chain"),
                    ("s", "sector"),
                    ("t", "stage"),
                    ("a", "last touched"),
                    ("f", "follow-up"),
                ],
                max_length=1,
            ),
        ),
        migrations.AddIndex(
            model_name="pipelinetally",
            index=models.Index(fields=["scope", "scope_id", "kind", "day"], name="tally_scope_kind_day_idx"),
        ),
        migrations.RunPython(recruitment.tally.install, recruitment.tally.uninstall),
    ]
