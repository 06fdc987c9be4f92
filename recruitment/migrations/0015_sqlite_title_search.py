"""The project titles in an FTS5 trigram table kept by triggers (SQLite only; see
``crm.search.SQLITE_TITLE_INDEX``): the project search reads it for queries of three
characters or more. Nothing on PostgreSQL, whose titles have their gram index."""

from django.db import migrations

import crm.search


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0012_sqlite_search_index"),
        ("recruitment", "0014_stage_panel_indexes"),
    ]

    operations = [
        migrations.RunPython(crm.search.create_sqlite_title_index, crm.search.drop_sqlite_title_index),
    ]
