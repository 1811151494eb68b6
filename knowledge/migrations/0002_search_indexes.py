from django.db import migrations

# Full-text search over title + body, one GIN expression index per language (PostgreSQL only; the
# SQLite demo database searches with LIKE). The expressions must stay identical to the ones
# knowledge.selectors builds with SearchVector("title", "body", config=...), or the planner will not
# use the indexes. Partial on the language, so each index holds one language's versions.
FTS_INDEXES = [
    ("kb_version_fts_en", "en", "english"),
    ("kb_version_fts_de", "de", "german"),
]
TABLE = "knowledge_articletranslation"


def create_fts_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, language, config in FTS_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {TABLE} USING gin "
            f"(to_tsvector('{config}'::regconfig, COALESCE(title, '') || ' ' || COALESCE(body, ''))) "
            f"WHERE language = '{language}'"
        )


def drop_fts_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _language, _config in FTS_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [migrations.RunPython(create_fts_indexes, drop_fts_indexes, elidable=False)]
