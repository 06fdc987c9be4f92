"""The enterprise's search keys stored in a generated column (PostgreSQL only), with the
statistics and the covering index of the name order the search reads (see ``crm.search``)."""

from django.db import migrations

import crm.search


class Migration(migrations.Migration):
    atomic = True

    dependencies = [
        ("crm", "0008_key_grams_search"),
    ]

    operations = [
        migrations.RunPython(crm.search.store_search_keys, crm.search.drop_stored_search_keys),
    ]
