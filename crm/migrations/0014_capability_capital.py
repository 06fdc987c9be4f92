import crm.capability_capital
from django.db import migrations


class Migration(migrations.Migration):
    """Each capability carries its enterprise's capital and merge, kept by triggers on
    PostgreSQL and SQLite (crm/capability_capital.py): a stage's candidates are walked by
    capital from the stage's capabilities alone."""

    dependencies = [
        ("crm", "0013_sqlite_name_search"),
    ]

    operations = [
        migrations.RunPython(crm.capability_capital.install, crm.capability_capital.uninstall),
    ]
