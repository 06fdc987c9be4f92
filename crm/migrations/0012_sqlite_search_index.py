"""The enterprise's search keys in an FTS5 trigram table kept by triggers (SQLite only;
see ``crm.search.SQLITE_KEYS_INDEX``)."""

from django.db import migrations

import crm.search


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0010_capabilities_by_stage"),
    ]

    operations = [
        migrations.RunPython(crm.search.create_sqlite_keys_index, crm.search.drop_sqlite_keys_index),
    ]
