from django.db import migrations

import recruitment.tally


class Migration(migrations.Migration):
    """The tally's PostgreSQL triggers skip the writes of a transaction that counts its
    projects set-based at the end (``recruitment.tally.deferred``, a large import); every
    function and trigger installed again and the tally counted with them. Going back keeps
    them: the old triggers never set what the new ones read."""

    dependencies = [
        ("recruitment", "0018_sqlite_tally"),
    ]

    operations = [
        migrations.RunPython(recruitment.tally.install, migrations.RunPython.noop),
    ]
