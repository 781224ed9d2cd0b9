"""Free-text contact search on PostgreSQL: trigram indexes for the console's `LIKE '%…%'`
matches on the email key and on first and last names (case-insensitive, as the query is
written: UPPER(col::text) LIKE UPPER(…)). Without them a search reads every contact (0.9 s at a
million). SQLite has no such index; its search stays a scan.

pg_trgm ships with PostgreSQL and is a trusted extension (13+): a database owner may create it.
Where even that is refused, the migration says so and carries on; search then stays a scan."""
from django.db import migrations

INDEXES = {
    "hscontact_email_trgm": "email_key gin_trgm_ops",
    "hscontact_first_trgm": "UPPER(first_name::text) gin_trgm_ops",
    "hscontact_last_trgm": "UPPER(last_name::text) gin_trgm_ops",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if not cursor.fetchone():
            try:
                cursor.execute("SAVEPOINT trgm")
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                cursor.execute("RELEASE SAVEPOINT trgm")
            except Exception as exc:  # noqa: BLE001 - any refusal: explain, don't block the deploy
                cursor.execute("ROLLBACK TO SAVEPOINT trgm")
                print(f"\n  pg_trgm could not be created ({exc.__class__.__name__}); contact search will scan. "
                      "Ask a superuser to run CREATE EXTENSION pg_trgm, then `manage.py migrate sync 0004` and "
                      "`manage.py migrate` again.")
                return
        for name, expression in INDEXES.items():
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON sync_hscontact USING gin ({expression})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("sync", "0004_sync_chunks")]
    operations = [migrations.RunPython(create, drop)]
