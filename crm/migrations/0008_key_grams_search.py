"""The pinyin, initials and English name searched through their runs of three and four
letters (``cr_key_grams``), in place of the trigram index (see ``crm.search``)."""

from django.db import migrations

import crm.search


class Migration(migrations.Migration):
    atomic = True

    dependencies = [
        ("crm", "0007_list_and_search_indexes"),
    ]

    operations = [
        migrations.RunPython(crm.search.use_key_grams, crm.search.use_trigram_keys),
    ]
