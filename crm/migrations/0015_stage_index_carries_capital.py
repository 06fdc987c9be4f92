import crm.capability_capital
from django.db import migrations


class Migration(migrations.Migration):
    """The index of a stage's capable enterprises carries their capital and merge
    (crm/capability_capital.py): a stage's candidates are scored from it, without reading
    the enterprises."""

    dependencies = [
        ("crm", "0014_capability_capital"),
    ]

    operations = [
        migrations.RunPython(crm.capability_capital.cover_stage_index, crm.capability_capital.uncover_stage_index),
    ]
