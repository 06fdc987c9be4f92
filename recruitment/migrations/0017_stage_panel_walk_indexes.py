from django.db import migrations

INDEXES = {
    # A park's projects in title order by code point, with what a panel shows of them.
    "project_park_title_idx": 'recruitment_project (park_id, title COLLATE "C", id) INCLUDE (status, office_id)',
    # The enterprises not merged away, by capital: the candidates' walk reads this index alone.
    "enterprise_capital_walk_idx": "crm_enterprise (registered_capital, id DESC) WHERE merged_into_id IS NULL",
}


def create_walk_indexes(apps, schema_editor):
    # PostgreSQL only: SQLite has no "C" collation, and its panel reads the stage's links.
    if schema_editor.connection.vendor == "postgresql":
        for name, target in INDEXES.items():
            schema_editor.execute(f"CREATE INDEX {name} ON {target}")


def drop_walk_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    """Two walks of a stage's panel on the gap map read an index alone, in the order they need.

    The first projects of each list, for a viewer who may read them all
    (recruitment.gaps._project_firsts): a park's projects in title order, each one's stage
    link checked by its key, until the panel has its few. The candidates' walk down the
    capital (recruitment.gaps._ranked_candidates) skips merged enterprises without reading
    their rows: some 3,500 enterprises are passed for the 80 it keeps at 1,000,000."""

    dependencies = [
        ("recruitment", "0016_project_status_created_idx"),
    ]

    operations = [
        migrations.RunPython(create_walk_indexes, drop_walk_indexes),
    ]
