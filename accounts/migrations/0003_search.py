"""Full-text search over contacts and organizations (PostgreSQL only; the SQLite demo searches with LIKE).

The expressions must stay identical to the vectors ``tickets.search`` builds (``name_vector``,
``email_vector``, ``domain_vector``), or the planner will not use the indexes. Addresses are split
at their separators first, so ``mueller``, ``acme`` and ``acme.de`` find ``j.mueller@acme.de``.

The indexes are built CONCURRENTLY (outside a transaction), so contacts arriving by mail are not
blocked while a large contacts table is indexed.
"""

from django.db import migrations

FTS_INDEXES = [
    ("contact_name_fts", "accounts_contact", "to_tsvector('simple'::regconfig, COALESCE(name, ''))"),
    (
        "contact_email_fts",
        "accounts_contactemail",
        "to_tsvector('simple'::regconfig, COALESCE(translate(email, '@.-_+', '     '), ''))",
    ),
    ("organization_name_fts", "accounts_organization", "to_tsvector('simple'::regconfig, COALESCE(name, ''))"),
    (
        "organization_domain_fts",
        "accounts_organizationdomain",
        "to_tsvector('simple'::regconfig, COALESCE(translate(domain, '.-', '  '), ''))",
    ),
]


def create_fts_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, expression in FTS_INDEXES:
        # An interrupted concurrent build leaves an invalid index behind: drop it and build again.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = %s AND NOT i.indisvalid",
                [name],
            )
            invalid = cursor.fetchone() is not None
        if invalid:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING gin ({expression})")


def drop_fts_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _expression in FTS_INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("accounts", "0002_initial"),
    ]

    operations = [
        migrations.RunPython(create_fts_indexes, drop_fts_indexes, elidable=False),
    ]
