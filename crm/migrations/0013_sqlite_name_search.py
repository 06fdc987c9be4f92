"""The enterprise names in an FTS5 trigram table kept by triggers (SQLite only; see
``crm.search.SQLITE_NAME_INDEX``): the enterprise and project searches read it for
queries of three characters or more. Nothing on PostgreSQL, whose names have their
gram index."""

from django.db import migrations

import crm.search


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0012_sqlite_search_index"),
    ]

    operations = [
        migrations.RunPython(crm.search.create_sqlite_name_index, crm.search.drop_sqlite_name_index),
    ]
