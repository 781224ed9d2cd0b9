"""The duplicate tabs' search text (DuplicateGroup.search, PossiblePair.search): each member's key,
ids, email and names, lower-case, a line per member, with a trigram index on PostgreSQL, so a
search is one index scan of the groups instead of a search of their members in the mirror (R2 by a
common first name walked 20,000 members at 1,000,000 people).

The existing groups are filled here, a thousand keys at a time, from their live members as the
sync's refresh defines them (sync.engine.groups); possible pairs get theirs at the next build (the
tab's search finds none until then). pg_trgm is 0005's: without it the index is left out and the
search scans the groups. SQLite: no index."""
from django.db import migrations, models
from django.db.models import Q

CHUNK = 1000
INDEXES = {"duplicategroup_search_trgm": "sync_duplicategroup", "possiblepair_search_trgm": "sync_possiblepair"}


def _text(key: str, rows) -> str:
    return "\n".join(" ".join([key, *values]).lower() for values in rows)


def fill(apps, schema_editor):
    group = apps.get_model("sync", "DuplicateGroup")
    person, contact, company = (apps.get_model("sync", m) for m in ("SfPerson", "HsContact", "HsCompany"))
    live_person = Q(is_deleted=False, is_converted=False) & ~Q(email_key="")
    kinds = {
        "r2": [(person, live_person, "email_key", ("sf_id", "first_name", "last_name"))],
        "r7": [(contact, Q(archived=False) & ~Q(salesforce_contact_id=""), "salesforce_contact_id",
                ("email_key", "hs_id", "first_name", "last_name")),
               (contact, Q(archived=False, salesforce_contact_id="") & ~Q(salesforce_lead_id=""), "salesforce_lead_id",
                ("email_key", "hs_id", "first_name", "last_name"))],
        "r9": [(company, Q(archived=False) & ~Q(salesforce_account_id=""), "salesforce_account_id", ("hs_id", "name"))],
    }
    for kind, branches in kinds.items():
        keys = list(group.objects.filter(kind=kind).order_by("key").values_list("key", flat=True))
        for i in range(0, len(keys), CHUNK):
            chunk, found = keys[i:i + CHUNK], {}
            for model, live, key_field, fields in branches:
                for key, *values in model.objects.filter(live, **{f"{key_field}__in": chunk}) \
                        .values_list(key_field, *fields):
                    found.setdefault(key, []).append(values)
            rows = list(group.objects.filter(kind=kind, key__in=chunk))
            for g in rows:
                g.search = _text(g.key, found.get(g.key, []))
            group.objects.bulk_update(rows, ["search"])


def index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone():
            for name, table in INDEXES.items():
                cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (search gin_trgm_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            for name in INDEXES:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("sync", "0017_merge_snapshots")]
    operations = [
        migrations.AddField("duplicategroup", "search", models.TextField(blank=True, default="", editable=False)),
        migrations.AddField("possiblepair", "search", models.TextField(blank=True, default="", editable=False)),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.RunPython(index, drop),
    ]
