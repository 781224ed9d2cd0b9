"""Set-based writes for the sync's hot paths: INSERT … ON CONFLICT and UPDATE by key, a whole
chunk at a time: on PostgreSQL streamed with COPY (through a staging table for upserts and
updates), on SQLite one prepared statement run over the chunk with `executemany`.

Why not `bulk_create`/`bulk_update`: Django compiles every row field by field (and on SQLite
splits a batch at 999 parameters, i.e. ~45 mirror rows a statement); at 100,000 people that
compilation cost more than fetching the pages. The SQL here is the portable subset SQLite ≥ 3.24
and PostgreSQL share; values are converted once per field by the field itself, only where the
backend needs it (dates, decimals, JSON), so the stored values are exactly what the ORM stores."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models.base import ModelState
from django.utils import timezone

PLAIN = (models.CharField, models.BooleanField, models.IntegerField, models.TextField)


def _sqlite_datetime(value: datetime | None) -> str | None:
    # What DatabaseOperations.adapt_datetimefield_value stores (naive UTC text), without its
    # per-value settings lookups: a third of the write time of a mirror row. A UTC value's
    # ISO text minus its "+00:00" is that text, without building a naive copy first.
    if value is None or value.tzinfo is None:
        return None if value is None else str(value)
    if value.tzinfo is UTC:
        return value.isoformat(" ")[:-6]
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value)  # JSONField.get_db_prep_save on SQLite


def _converter(field: models.Field, vendor: str) -> Callable | None:
    if isinstance(field, PLAIN) or field.is_relation:
        return None
    if vendor == "sqlite" and settings.USE_TZ and type(field) is models.DateTimeField:
        return _sqlite_datetime
    if vendor == "postgresql" and type(field) in (models.DateTimeField, models.DateField):
        return None  # psycopg adapts date/datetime itself, as Django lets it
    if vendor == "sqlite" and type(field) is models.JSONField and field.encoder is None:
        return _json_text
    return lambda v: field.get_db_prep_save(v, connection)


@cache
def _converters(model: type[models.Model], names: tuple[str, ...], vendor: str) -> list[tuple[str, Callable | None]]:
    """(attname, converter or None) per field; None where the driver takes the Python value as is."""
    return [(f.attname, _converter(f, vendor)) for f in (model._meta.get_field(n) for n in names)]


def _rows(model, objs: Iterable[models.Model], names: tuple[str, ...]) -> list[tuple]:
    convs = _converters(model, names, connection.vendor)
    return [tuple(getattr(o, a) if c is None else c(getattr(o, a)) for a, c in convs) for o in objs]


# -- building rows -------------------------------------------------------------------------------------
# `Model(**values)` walks every field of the model for each instance (defaults, descriptors,
# signals): at 100,000 people that was a tenth of a full sync for rows that only get written.

@cache
def _template(model: type[models.Model]) -> tuple[dict, tuple, dict, frozenset]:
    """(constant defaults by attname, (attname, callable default) pairs, relation name → attname,
    every name `build` accepts)."""
    static, dynamic, relations = {}, [], {}
    for f in model._meta.concrete_fields:
        if f.has_default() and callable(f.default):
            # timezone.now looks USE_TZ up in the lazy settings on every call: a second per
            # 200,000 rows. The same value, straight from the clock:
            fast_now = f.default is timezone.now and settings.USE_TZ
            dynamic.append((f.attname, partial(datetime.now, UTC) if fast_now else f.default))
        else:
            static[f.attname] = f.get_default()
        if f.is_relation:
            relations[f.name] = f.attname
    return static, tuple(dynamic), relations, frozenset((*static, *(a for a, _ in dynamic), *relations))


def build(model: type[models.Model], values: dict[str, Any]) -> models.Model:
    """An unsaved instance of `model` from field names (or attnames) → values, defaults for the
    rest, as `model(**values)` makes it but without the per-field work. A relation given as an
    instance is stored by its primary key. No pre_init/post_init signals (none are connected to
    the models built here)."""
    static, dynamic, relations, known = _template(model)
    if not known.issuperset(values):
        raise TypeError(f"{model.__name__} has no field(s) {sorted(set(values) - known)}")
    obj = model.__new__(model)
    d = obj.__dict__
    d.update(static)
    for attname, default in dynamic:
        if attname not in values:
            d[attname] = default()
    if relations.keys().isdisjoint(values):   # mirror rows: no relations, one C-level update
        d.update(values)
    else:
        for name, value in values.items():
            if name in relations:
                d[relations[name]] = value if value is None or not isinstance(value, models.Model) else value.pk
            else:
                d[name] = value
    d["_state"] = ModelState()
    return obj


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def concrete(model: type[models.Model], *, skip: Iterable[str] = ()) -> tuple[str, ...]:
    """The model's stored fields except the primary key and `skip`."""
    skip = {model._meta.pk.name, *skip}
    return tuple(f.name for f in model._meta.concrete_fields if f.name not in skip)


def insert(model: type[models.Model], objs: Sequence[models.Model], *, fields: Sequence[str] | None = None,
           conflict: str | None = None, update: Sequence[str] = ()) -> None:
    """INSERT `objs`; with `conflict` (a unique column), rows that exist get `update` fields
    from the new row (nothing if `update` is empty: the existing row is kept)."""
    if not objs:
        return
    names = tuple(fields or concrete(model))
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(_column(model, n) for n in names)
    rows = _rows(model, objs, names)
    on_conflict = ""
    if conflict:
        sets = ", ".join(f"{_column(model, n)} = EXCLUDED.{_column(model, n)}" for n in update)
        on_conflict = f" ON CONFLICT ({_column(model, conflict)}) " + (f"DO UPDATE SET {sets}" if sets else "DO NOTHING")
        # One statement may not touch a row twice: keep the row a row-by-row insert would leave.
        rows = _unique(rows, names.index(conflict) if conflict in names else None, keep_last=bool(update))
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"
                               + on_conflict, rows)
    elif not conflict:
        with connection.cursor() as cursor:
            _copy(cursor, table, columns, rows)
    else:
        with _staged(model, names, rows) as stage, connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage}" + on_conflict)


def update(model: type[models.Model], rows: Sequence[Sequence[Any]], *, fields: Sequence[str], key: str = "pk",
           unless_set: str | None = None) -> None:
    """UPDATE by `key`: each row is (key value, *values of `fields`). With `unless_set`, rows
    whose `unless_set` column is already non-blank are left alone."""
    if not rows:
        return
    key_field = model._meta.pk if key == "pk" else model._meta.get_field(key)
    convs = _converters(model, tuple(fields), connection.vendor)
    table, key_column = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(key_field.column)
    params = [(*(v if c is None else c(v) for (_, c), v in zip(convs, row[1:], strict=True)), row[0]) for row in rows]
    if connection.vendor == "postgresql":
        params = _unique(params, len(fields), keep_last=True)
        sets = ", ".join(f"{_column(model, n)} = s.{_column(model, n)}" for n in fields)
        where = f" AND {table}.{_column(model, unless_set)} = ''" if unless_set else ""
        with _staged(model, (*fields, key_field.name), params) as stage, connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {sets} FROM {stage} AS s WHERE {table}.{key_column} = s.{key_column}"
                           + where)
        return
    sets = ", ".join(f"{_column(model, n)} = %s" for n in fields)
    sql = f"UPDATE {table} SET {sets} WHERE {key_column} = %s"
    if unless_set:
        sql += f" AND {_column(model, unless_set)} = ''"
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def analyze(*models: type[models.Model]) -> None:
    """PostgreSQL: refresh the planner's statistics of tables a run just filled. Autovacuum gets
    to them minutes later; until then the planner thinks a freshly loaded table of 100,000 rows
    holds a few thousand and scans it whole for each `IN (…)` look-up (48 ms instead of 3 ms a
    chunk, measured at 100,000 people). SQLite keeps no statistics unless asked, and its
    planner's choices here were measured without them: left alone."""
    if connection.vendor == "postgresql" and models:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models))


# -- PostgreSQL: COPY ------------------------------------------------------------------------------------
# executemany sends each row as its own statement (and a multi-row VALUES list of thousands of
# parameters is slower still to build and parse); COPY streams the rows in one command. Upserts
# and updates COPY into a staging table first, then one INSERT … SELECT / UPDATE … FROM.

def _copy(cursor, table: str, columns: str, rows: Iterable[tuple]) -> None:
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


@contextmanager
def _staged(model: type[models.Model], names: Sequence[str], rows: list[tuple]):
    """A temporary table with `names`' columns (types from the model's table, no constraints),
    holding `rows`; dropped afterwards. Inside a savepoint: on error nothing is left behind."""
    stage = connection.ops.quote_name(f"stage_{model._meta.db_table}")
    columns = ", ".join(_column(model, n) for n in names)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage}")
        cursor.execute(f"CREATE TEMPORARY TABLE {stage} AS SELECT {columns} "
                       f"FROM {connection.ops.quote_name(model._meta.db_table)} WITH NO DATA")
        _copy(cursor, stage, columns, rows)
        yield stage
        cursor.execute(f"DROP TABLE {stage}")


def _unique(rows: list[tuple], at: int | None, *, keep_last: bool) -> list[tuple]:
    """Rows with distinct values at position `at` (the conflict or key column)."""
    if at is None:
        return rows
    seen: dict = {}
    for row in rows:
        if keep_last or row[at] not in seen:
            seen[row[at]] = row
    return rows if len(seen) == len(rows) else list(seen.values())
