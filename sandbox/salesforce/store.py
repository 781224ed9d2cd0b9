"""The Salesforce record store: per-type row lists, an id map, and the indexes a sync leans on
(lower-cased trimmed email, external ids). Callers hold `sandbox.lock`."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sandbox import ids
from sandbox.salesforce.picklists import metadata_rows
from sandbox.salesforce.schema import (
    NUMERIC,
    PERSON_USER_ID,
    SOBJECTS,
    SObject,
    email_key,
    parse_datetime,
    to_seconds,
    valid_date,
    valid_email,
)

# Field positions shared by every type (see schema._system).
ID, IS_DELETED, CREATED, CREATED_BY, MODIFIED, MODIFIED_BY, MODSTAMP = range(7)
RECYCLE_BIN_SECONDS = 15 * 86400
METADATA_CREATED = 1_577_836_800     # 2020-01-01T00:00:00Z: when the org's value sets were "set up"


def _idx_add(index: dict, key: str | None, rid: str) -> None:
    # A bare id string per key, a list only when keys collide: half the memory for 1M unique emails.
    if key is None:
        return
    cur = index.get(key)
    if cur is None:
        index[key] = rid
    elif isinstance(cur, str):
        if cur != rid:
            index[key] = [cur, rid]
    elif rid not in cur:
        cur.append(rid)


def _idx_remove(index: dict, key: str | None, rid: str) -> None:
    cur = index.get(key) if key is not None else None
    if cur is None:
        return
    if isinstance(cur, str):
        if cur == rid:
            del index[key]
    else:
        if rid in cur:
            cur.remove(rid)
        if len(cur) == 1:
            index[key] = cur[0]


def _idx_get(index: dict, key: str) -> list[str]:
    cur = index.get(key)
    return [] if cur is None else [cur] if isinstance(cur, str) else list(cur)


class ApiError(Exception):
    """One Salesforce error: `errorCode`/`statusCode`, message, fields, and the HTTP status."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.fields, self.status = code, message, fields or [], status

    def rest(self) -> dict:
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def result(self) -> dict:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


class Store:
    def __init__(self, seed: int = 0) -> None:
        self.records: dict[str, list] = {}
        self.rows: dict[str, list[list]] = {name: [] for name in SOBJECTS}
        self.by_email: dict[str, dict] = {name: {} for name in SOBJECTS}
        self.by_ext: dict[str, dict[str, dict]] = {
            name: {f.name: {} for f in obj.external_ids()} for name, obj in SOBJECTS.items()}
        self.id_factory = ids.IdFactory(seed)
        # Who writes now: the emulator sets the token's user for the length of an API call; the
        # sandbox's own controls (touch, convert, scenario loads) write as a person.
        self.actor = PERSON_USER_ID
        self._email_pos = {name: obj.by_lower["email"].pos for name, obj in SOBJECTS.items() if "email" in obj.by_lower}
        self._ext_pos = {name: [(f.name, f.pos) for f in obj.external_ids()] for name, obj in SOBJECTS.items()}
        # LeadStatus and OpportunityStage share a key prefix, so their ids carry no type: the few
        # value-set rows are looked up here, every other id by its prefix.
        self._metadata_types: dict[str, str] = {}
        for name, rid, values in metadata_rows():
            self.insert(SOBJECTS[name], values, METADATA_CREATED, rid)
            self._metadata_types[rid] = name

    # -- reading -----------------------------------------------------------------------------------

    def get(self, rid: str | None) -> list | None:
        return self.records.get(rid) if rid else None

    def type_of(self, rid: str) -> str | None:
        return ids.sobject_type(rid) or self._metadata_types.get(rid)

    def live(self, rec: list | None, now: int) -> bool:
        return rec is not None and not rec[IS_DELETED]

    def purged(self, rec: list, now: int) -> bool:
        """Deleted rows leave the recycle bin after 15 days (the deletion stamped SystemModstamp)."""
        return rec[IS_DELETED] and rec[MODSTAMP] < now - RECYCLE_BIN_SECONDS

    def find_email(self, sobject: str, key: str) -> list[list]:
        return [self.records[r] for r in _idx_get(self.by_email[sobject], key)]

    def find_ext(self, sobject: str, field: str, value: str) -> list[list]:
        return [self.records[r] for r in _idx_get(self.by_ext[sobject][field], value.strip().lower())]

    def candidates(self, obj: SObject, hint: tuple[str, str, list[str]] | None) -> list[list]:
        if hint is None:
            return list(self.rows[obj.name])
        kind, fname, keys = hint
        out: list[list] = []
        seen: set[str] = set()
        for key in keys:
            if kind == "id":
                rec = self.records.get(key)
                found = [rec] if rec is not None and self.type_of(rec[ID]) == obj.name else []
            elif kind == "email":
                found = self.find_email(obj.name, key)
            else:
                found = self.find_ext(obj.name, fname, key)
            for rec in found:
                if rec[ID] not in seen:
                    seen.add(rec[ID])
                    out.append(rec)
        return out

    # -- writing -----------------------------------------------------------------------------------

    def _index(self, sobject: str, rec: list) -> None:
        if sobject in self._email_pos:
            _idx_add(self.by_email[sobject], email_key(rec[self._email_pos[sobject]]), rec[ID])
        for name, pos in self._ext_pos[sobject]:
            if rec[pos] is not None:
                _idx_add(self.by_ext[sobject][name], rec[pos].strip().lower(), rec[ID])

    def _unindex(self, sobject: str, rec: list) -> None:
        if sobject in self._email_pos:
            _idx_remove(self.by_email[sobject], email_key(rec[self._email_pos[sobject]]), rec[ID])
        for name, pos in self._ext_pos[sobject]:
            if rec[pos] is not None:
                _idx_remove(self.by_ext[sobject][name], rec[pos].strip().lower(), rec[ID])

    def insert(self, obj: SObject, values: dict, now: int, rid: str | None = None) -> list:
        """Create a row from already-validated stored values."""
        rec = [f.default for f in obj.fields]
        rec[ID] = rid or self.id_factory.new(obj.name)
        rec[CREATED] = rec[MODIFIED] = rec[MODSTAMP] = now
        rec[CREATED_BY] = rec[MODIFIED_BY] = self.actor
        for name, value in values.items():
            rec[obj.by_lower[name.lower()].pos] = value
        self.records[rec[ID]] = rec
        self.rows[obj.name].append(rec)
        self._index(obj.name, rec)
        return rec

    def update(self, obj: SObject, rec: list, values: dict, now: int | None, *, user: bool = True) -> None:
        """Set stored values; `now` stamps SystemModstamp (and LastModifiedDate for user edits)."""
        self._unindex(obj.name, rec)
        for name, value in values.items():
            rec[obj.by_lower[name.lower()].pos] = value
        if now is not None:
            rec[MODSTAMP] = now
            if user:
                rec[MODIFIED], rec[MODIFIED_BY] = now, self.actor
        self._index(obj.name, rec)

    def restore(self, obj: SObject, rec: list, snapshot: list | None) -> None:
        """Undo for allOrNone: put a row back as it was, or remove a row that was created."""
        self._unindex(obj.name, rec)
        if snapshot is None:
            del self.records[rec[ID]]
            rows = self.rows[obj.name]
            for i in range(len(rows) - 1, -1, -1):   # created rows sit at the end
                if rows[i] is rec:
                    del rows[i]
                    break
            return
        rec[:] = snapshot
        self._index(obj.name, rec)

    def delete(self, obj: SObject, rec: list, now: int, master: str | None = None) -> None:
        rec[IS_DELETED] = True
        rec[MODSTAMP] = rec[MODIFIED] = now
        rec[MODIFIED_BY] = self.actor
        if master is not None:
            rec[obj.by_lower["masterrecordid"].pos] = master

    def undelete(self, obj: SObject, rec: list, now: int) -> None:
        """Back from the recycle bin: live, stamped as a user edit. A merged-away row loses its
        MasterRecordId (UNCONFIRMED: the docs do not say; a live row pointing at a master would
        read as a merge loser to every sync that follows the documented queryAll pattern)."""
        rec[IS_DELETED] = False
        rec[MODSTAMP] = rec[MODIFIED] = now
        rec[MODIFIED_BY] = self.actor
        if obj.mergeable:
            rec[obj.by_lower["masterrecordid"].pos] = None

    # -- loading scenarios (no validation of API rules, but loud about bad data) ------------------

    def load(self, obj: SObject, data: dict, now: int) -> list:
        values, rid, stamps = {}, None, {}
        for key, value in data.items():
            if key == "attributes":
                continue
            f = obj.by_lower.get(key.lower())
            if f is None:
                raise ValueError(f"{obj.name}: unknown field {key!r}")
            # Picklist values and lengths are not checked: a real org keeps values that predate a
            # restriction (and the scenario generator's own tests hold it to the rules).
            if f.name == "Id":
                rid = ids.normalize(value)
                if rid is None or rid[:3] != obj.key_prefix:
                    raise ValueError(f"{obj.name}: bad Id {value!r}")
            elif f.kind == "datetime":
                if value is not None:
                    dt = parse_datetime(value) if isinstance(value, str) else value
                    if not isinstance(dt, datetime):
                        raise ValueError(f"{obj.name}.{key}: bad datetime {value!r}")
                    stamps[f.name] = to_seconds(dt)
            elif f.kind in ("reference",) and value:
                norm = ids.normalize(value)
                if norm is None:
                    raise ValueError(f"{obj.name}.{key}: bad id {value!r}")
                values[f.name] = norm
            elif f.kind == "date" and value is not None and not valid_date(str(value)):
                raise ValueError(f"{obj.name}.{key}: bad date {value!r}")
            elif f.kind in NUMERIC and value is not None:
                values[f.name] = float(value)
            elif f.kind == "int" and value is not None:
                values[f.name] = int(value)
            else:
                values[f.name] = None if value == "" else value
        if rid is not None and rid in self.records:
            raise ValueError(f"duplicate Id {rid}")
        is_deleted = bool(values.pop("IsDeleted", False))
        rec = self.insert(obj, values, now, rid)
        created = stamps.get("CreatedDate", stamps.get("LastModifiedDate", stamps.get("SystemModstamp", now)))
        modified = stamps.get("LastModifiedDate", created)
        rec[CREATED], rec[MODIFIED] = created, modified
        rec[MODSTAMP] = max(stamps.get("SystemModstamp", modified), modified)
        rec[IS_DELETED] = is_deleted
        return rec

    def load_many(self, items: Iterable[tuple[str, dict]], now: int) -> int:
        n = 0
        for sobject, data in items:
            self.load(SOBJECTS[sobject], data, now)
            n += 1
        return n


__all__ = ["ApiError", "Store", "valid_email"]
