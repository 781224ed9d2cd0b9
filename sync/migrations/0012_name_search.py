"""Trigram indexes for the duplicate tabs' name search on PostgreSQL: Salesforce people's first
and last names (R2) and HubSpot companies' names (R9), on the expression the search is written
as (`icontains`: UPPER(col::text) LIKE UPPER(…)), as 0005 did for HubSpot contacts (R7). With
them a search reads the members it finds, not every member of every group, unless a term is so
common that walking the groups' members is cheaper (the planner's choice).

pg_trgm is 0005's: where it could not be created this does nothing and the search walks the
members, as 0005 says. (Django's TrigramExtension would fail the deploy there instead, and undo
it by dropping the extension 0005's indexes need.) SQLite: nothing to do."""
from django.db import migrations

INDEXES = {
    "sfperson_first_trgm": ("sync_sfperson", "UPPER(first_name::text) gin_trgm_ops"),
    "sfperson_last_trgm": ("sync_sfperson", "UPPER(last_name::text) gin_trgm_ops"),
    "hscompany_name_trgm": ("sync_hscompany", "UPPER(name::text) gin_trgm_ops"),
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if not cursor.fetchone():
            return
        for name, (table, expression) in INDEXES.items():
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("sync", "0012_own_writes")]
    operations = [migrations.RunPython(create, drop)]
