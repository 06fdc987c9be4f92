import recruitment.tally
from django.db import migrations


class Migration(migrations.Migration):
    """The pipeline tally and each project's last touch on SQLite, kept by SQLite triggers
    (recruitment/tally_sqlite.py), counted from what is there; nothing on PostgreSQL, whose
    triggers are installed by 0013."""

    dependencies = [
        ("recruitment", "0017_stage_panel_walk_indexes"),
        ("crm", "0013_sqlite_name_search"),
        ("chains", "0002_initial"),
    ]

    operations = [
        migrations.RunPython(recruitment.tally.install_sqlite, recruitment.tally.uninstall_sqlite),
    ]
