from django.db import migrations


class Migration(migrations.Migration):
    """The enterprises capable of a stage, read from an index alone: a stage's gap
    candidates (recruitment.gaps) start from them. The table is the many-to-many
    table Django makes for ``Enterprise.stages``, so the index is written here."""

    dependencies = [
        ("crm", "0009_stored_search_keys"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX enterprise_stages_stage_ent_idx ON crm_enterprise_stages (stage_id, enterprise_id)",
            "DROP INDEX enterprise_stages_stage_ent_idx",
        ),
    ]
