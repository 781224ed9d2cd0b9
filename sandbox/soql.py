"""A real SOQL subset: tokenizer, parser and compiler to Python predicates over stored records.

Grammar (what the sync and its tests use, reference §3.4–3.5):
    SELECT (COUNT() | path {, path}) FROM sobject
    [WHERE cond] [ORDER BY path [ASC|DESC] [NULLS FIRST|LAST] {, …}] [LIMIT n] [OFFSET n]
    cond  := term {AND term} | term {OR term}      -- SOQL refuses AND and OR mixed without parentheses
    term  := NOT term | '(' cond ')' | path op value | path [NOT] IN (value, …) | path LIKE 'pattern'
    value := 'string' | number | true | false | null | 2024-01-01T00:00:00Z | 2024-01-01

Errors carry Salesforce's codes and its message layout (the query line, a caret, the row/column).
String matching is case-insensitive, as on the server; nulls are ordinary values (`!= 'x'` and
`NOT IN` match null fields, unlike SQL)."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox import ids
from sandbox.salesforce.schema import STRINGY, Field, SObject, parse_datetime, sobject, valid_date


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Token:
    kind: str     # ident string number datetime date op ( ) , . eof
    value: object
    pos: int
    text: str = ""
    like: str | None = None   # for strings: the LIKE regex (\% and \_ are literal there)


_KEYWORDS = {"select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc", "desc",
             "nulls", "first", "last", "limit", "offset", "true", "false", "null", "count"}
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\dT])")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("!=", "<>", "<=", ">=", "=", "<", ">")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


def _caret(query: str, pos: int, message: str) -> str:
    """Salesforce's layout: the offending line, a caret under the column, then Row:Column."""
    row = query.count("\n", 0, pos) + 1
    line_start = query.rfind("\n", 0, pos) + 1
    line_end = query.find("\n", pos)
    line = query[line_start: line_end if line_end >= 0 else len(query)]
    col = pos - line_start + 1
    return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}"


def tokenize(query: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "'":
            out.append(_string(query, i))
            i = out[-1].pos + len(out[-1].text)
            continue
        if ch == '"':
            raise SoqlError("MALFORMED_QUERY", _caret(query, i, "unexpected token: '\"'"))
        for regex, kind in ((_DATETIME, "datetime"), (_DATE, "date")):
            m = regex.match(query, i)
            if m:
                out.append(Token(kind, m.group(), i, m.group()))
                i = m.end()
                break
        else:
            m = _NUMBER.match(query, i)
            if m and (ch.isdigit() or ch == "." or (i + 1 < n and (query[i + 1].isdigit() or query[i + 1] == "."))):
                out.append(Token("number", float(m.group()) if any(c in m.group() for c in ".") else int(m.group()),
                                 i, m.group()))
                i = m.end()
                continue
            m = _IDENT.match(query, i)
            if m:
                out.append(Token("ident", m.group(), i, m.group()))
                i = m.end()
                continue
            for op in _OPS:
                if query.startswith(op, i):
                    out.append(Token("op", "!=" if op == "<>" else op, i, op))
                    i += len(op)
                    break
            else:
                if ch in "(),.":
                    out.append(Token(ch, ch, i, ch))
                    i += 1
                else:
                    raise SoqlError("MALFORMED_QUERY", _caret(query, i, f"unexpected token: '{ch}'"))
    out.append(Token("eof", None, n, "<EOF>"))
    return out


def _string(query: str, start: int) -> Token:
    chars: list[str] = []
    like: list[str] = []
    i = start + 1
    while i < len(query):
        ch = query[i]
        if ch == "'":
            return Token("string", "".join(chars), start, query[start:i + 1], "".join(like))
        if ch == "\\":
            nxt = query[i + 1: i + 2]
            if nxt in _ESCAPES:
                chars.append(_ESCAPES[nxt])
                like.append(re.escape(_ESCAPES[nxt]))
            elif nxt in ("%", "_"):
                # Only meaningful to LIKE; elsewhere the backslash stays part of the value.
                chars.append("\\" + nxt)
                like.append(re.escape(nxt))
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", query[i + 2: i + 6]):
                c = chr(int(query[i + 2: i + 6], 16))
                chars.append(c)
                like.append(re.escape(c))
                i += 4
            else:
                raise SoqlError("MALFORMED_QUERY", _caret(
                    query, i, "Invalid string literal '" + query[start + 1: i + 2] + "'. Illegal escape sequence"))
            i += 2
            continue
        chars.append(ch)
        like.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    raise SoqlError("MALFORMED_QUERY", _caret(query, start, "unexpected token: <EOF>"))


# -- AST -------------------------------------------------------------------------------------------

@dataclass
class Path:
    parts: list[str]
    pos: int


@dataclass
class Compare:
    path: Path
    op: str                    # = != < > <= >= in notin like
    values: list[Token]


@dataclass
class Logic:
    op: str                    # and or not
    items: list


@dataclass
class OrderKey:
    path: Path
    desc: bool = False
    nulls_last: bool | None = None


@dataclass
class Parsed:
    text: str
    count: bool
    fields: list[Path]
    sobject: str
    sobject_pos: int
    where: object = None
    order: list[OrderKey] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def fail(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        what = "<EOF>" if tok.kind == "eof" else tok.text
        return SoqlError("MALFORMED_QUERY", _caret(self.text, tok.pos, f"unexpected token: {what}"
                                                   if tok.kind == "eof" else f"unexpected token: '{what}'"))

    def kw(self, *words: str) -> bool:
        t = self.tok
        return t.kind == "ident" and str(t.value).lower() in words

    def take_kw(self, word: str) -> Token:
        if not self.kw(word):
            raise self.fail()
        t = self.tok
        self.i += 1
        return t

    def take(self, kind: str) -> Token:
        if self.tok.kind != kind:
            raise self.fail()
        t = self.tok
        self.i += 1
        return t

    def parse(self) -> Parsed:
        self.take_kw("select")
        count, fields = False, []
        if self.kw("count") and self.toks[self.i + 1].kind == "(":
            self.i += 1
            self.take("(")
            self.take(")")
            count = True
        else:
            fields.append(self.path())
            while self.tok.kind == ",":
                self.i += 1
                fields.append(self.path())
        self.take_kw("from")
        obj = self.take("ident")
        q = Parsed(self.text, count, fields, str(obj.value), obj.pos)
        if self.kw("where"):
            self.i += 1
            q.where = self.condition()
        if self.kw("order"):
            self.i += 1
            self.take_kw("by")
            q.order.append(self.order_key())
            while self.tok.kind == ",":
                self.i += 1
                q.order.append(self.order_key())
        if self.kw("limit"):
            self.i += 1
            q.limit = self.integer()
        if self.kw("offset"):
            self.i += 1
            q.offset = self.integer()
            if q.offset > 2000:
                raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        if self.tok.kind != "eof":
            raise self.fail()
        return q

    def integer(self) -> int:
        t = self.take("number")
        if not isinstance(t.value, int) or t.value < 0:
            raise self.fail(t)
        return t.value

    def path(self) -> Path:
        t = self.tok
        if t.kind != "ident" or str(t.value).lower() in _KEYWORDS - {"first", "last", "count"}:
            raise self.fail()
        self.i += 1
        parts = [str(t.value)]
        while self.tok.kind == ".":
            self.i += 1
            parts.append(str(self.take("ident").value))
        return Path(parts, t.pos)

    def order_key(self) -> OrderKey:
        key = OrderKey(self.path())
        if self.kw("asc", "desc"):
            key.desc = str(self.tok.value).lower() == "desc"
            self.i += 1
        if self.kw("nulls"):
            self.i += 1
            if not self.kw("first", "last"):
                raise self.fail()
            key.nulls_last = str(self.tok.value).lower() == "last"
            self.i += 1
        return key

    def condition(self):
        items = [self.term()]
        joiner = None
        while self.kw("and", "or"):
            word = str(self.tok.value).lower()
            if joiner and word != joiner:
                raise self.fail()   # `a AND b OR c` is ambiguous to SOQL: it demands parentheses
            joiner = word
            self.i += 1
            items.append(self.term())
        return items[0] if len(items) == 1 else Logic(joiner, items)

    def term(self):
        if self.kw("not"):
            self.i += 1
            return Logic("not", [self.term()])
        if self.tok.kind == "(":
            self.i += 1
            inner = self.condition()
            self.take(")")
            return inner
        path = self.path()
        if self.tok.kind == "op":
            op = str(self.tok.value)
            self.i += 1
            return Compare(path, op, [self.value()])
        if self.kw("like"):
            self.i += 1
            t = self.value()
            if t.kind != "string":
                raise self.fail(t)
            return Compare(path, "like", [t])
        negate = False
        if self.kw("not"):
            self.i += 1
            negate = True
        self.take_kw("in")
        self.take("(")
        values = [self.value()]
        while self.tok.kind == ",":
            self.i += 1
            values.append(self.value())
        self.take(")")
        return Compare(path, "notin" if negate else "in", values)

    def value(self) -> Token:
        t = self.tok
        if t.kind in ("string", "number", "datetime", "date") or self.kw("true", "false", "null"):
            self.i += 1
            if t.kind == "ident":
                t = Token(str(t.value).lower(), None, t.pos, t.text)
            return t
        raise self.fail()


def parse(text: str) -> Parsed:
    if len(text) > 100_000:
        raise SoqlError("MALFORMED_QUERY", "Query is too long: the limit is 100000 characters")
    return _Parser(text).parse()


# -- compile against the schema ---------------------------------------------------------------------

Getter = Callable[[list, Callable[[str], "list | None"]], object]


@dataclass
class Column:
    """A selected field: `Email` or `Account.Name` (relationship, field)."""
    field: Field
    relationship: Field | None = None
    target: SObject | None = None


@dataclass
class Compiled:
    text: str
    sobject: SObject
    count: bool
    columns: list[Column]
    predicate: Callable[[list, Callable], bool] | None
    index_hint: tuple[str, str, list[str]] | None    # ("email"|"id"|"ext", field name, keys)
    order: list[tuple[Getter, bool, bool, bool]]     # getter, desc, nulls_last, lower-case
    order_columns: list[Column]
    limit: int | None
    offset: int | None


def compile_query(text: str) -> Compiled:
    q = parse(text)
    obj = sobject(q.sobject)
    if obj is None:
        raise SoqlError("INVALID_TYPE", _caret(
            text, q.sobject_pos, f"sObject type '{q.sobject}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or "
            "the describe call for the appropriate names."))
    columns, seen = [], set()
    for p in q.fields:
        col = _resolve(text, obj, p)
        key = (col.relationship.name if col.relationship else "", col.field.name)
        if key in seen:
            raise SoqlError("MALFORMED_QUERY", _caret(text, p.pos, f"duplicate field selected: {'.'.join(p.parts)}"))
        seen.add(key)
        columns.append(col)
    order, order_columns = [], []
    for k in q.order:
        col = _resolve(text, obj, k.path)
        order_columns.append(col)
        nulls_last = k.nulls_last if k.nulls_last is not None else k.desc
        # UNCONFIRMED: default null placement; we follow the SOQL guide's "nulls first" for ASC and
        # put them last for DESC (the reversed order), which is what Salesforce is observed to do.
        order.append((_getter(col), k.desc, nulls_last, col.field.kind in STRINGY and col.field.kind != "id"))
    predicate = _compile_cond(text, obj, q.where) if q.where is not None else None
    return Compiled(text, obj, q.count, columns, predicate, _index_hint(obj, q.where), order,
                    order_columns, q.limit, q.offset)


def _resolve(text: str, obj: SObject, p: Path) -> Column:
    if len(p.parts) == 1:
        f = obj.by_lower.get(p.parts[0].lower())
        if f is None:
            raise _no_column(text, p, p.parts[0], obj.name)
        return Column(f)
    if len(p.parts) == 2:
        rel = obj.relationships.get(p.parts[0].lower())
        if rel is not None:
            target = obj if rel.reference_to == "self" else sobject(rel.reference_to or "")
            f = target.by_lower.get(p.parts[1].lower()) if target else None
            if f is None:
                raise _no_column(text, p, p.parts[1], target.name if target else rel.reference_to)
            return Column(f, rel, target)
    raise SoqlError("INVALID_FIELD", _caret(
        text, p.pos, f"Didn't understand relationship '{p.parts[0]}' in field path. If you are attempting to "
        "use a custom relationship, be sure to append the '__r' after the custom relationship name. Please "
        "reference your WSDL or the describe call for the appropriate names."))


def _no_column(text: str, p: Path, name: str, entity: str | None) -> SoqlError:
    return SoqlError("INVALID_FIELD", _caret(
        text, p.pos, f"No such column '{name}' on entity '{entity}'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
        "describe call for the appropriate names."))


def _getter(col: Column) -> Getter:
    pos = col.field.pos
    if col.relationship is None:
        return lambda rec, lookup: rec[pos]
    rpos = col.relationship.pos

    def get(rec, lookup):
        parent = lookup(rec[rpos]) if rec[rpos] else None
        return parent[pos] if parent is not None else None
    return get


_TYPE_NAMES = {"boolean": "boolean", "datetime": "dateTime", "date": "date", "currency": "double",
               "percent": "double", "double": "double", "int": "int"}
_NUMERIC = ("currency", "percent", "double", "int")


def _literal(text: str, f: Field, tok: Token, op: str):
    """Convert a literal to the stored representation of `f`, with Salesforce's type errors."""
    if tok.kind == "null":
        return None
    kind = f.kind
    want = {"boolean": ("true", "false"), "datetime": ("datetime",), "date": ("date",)}.get(
        kind, ("number",) if kind in _NUMERIC else ("string",))
    if tok.kind not in want:
        if kind in STRINGY:
            msg = (f"value of filter criterion for field '{f.name}' must be of type {_string_type(f)} "
                   "and should be enclosed in quotes")
        else:
            msg = (f"value of filter criterion for field '{f.name}' must be of type {_TYPE_NAMES[kind]} "
                   "and should not be enclosed in quotes")
        raise SoqlError("INVALID_FIELD", _caret(text, tok.pos, msg))
    if kind == "boolean":
        return tok.kind == "true"
    if kind == "datetime":
        # Fractional seconds: UNCONFIRMED whether Salesforce accepts them; we accept and compare exactly.
        return parse_datetime(str(tok.value)).timestamp()
    if kind == "date":
        if not valid_date(str(tok.value)):
            raise SoqlError("MALFORMED_QUERY", _caret(text, tok.pos, f"invalid date: {tok.value}"))
        return tok.value
    if kind == "int":
        return tok.value
    if kind in _NUMERIC:
        return float(tok.value)
    if kind in ("id", "reference") and op != "like":
        norm = ids.normalize(tok.value)
        if norm is None:
            raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", _caret(text, tok.pos, f"invalid ID field: {tok.value}"))
        return norm
    return tok.value


def _string_type(f: Field) -> str:
    return {"id": "id", "reference": "reference", "email": "string", "phone": "string"}.get(f.kind, "string")


def _compile_cond(text: str, obj: SObject, node) -> Callable:
    if isinstance(node, Logic):
        parts = [_compile_cond(text, obj, n) for n in node.items]
        if node.op == "not":
            inner = parts[0]
            return lambda rec, lookup: not inner(rec, lookup)
        if node.op == "and":
            return lambda rec, lookup: all(p(rec, lookup) for p in parts)
        return lambda rec, lookup: any(p(rec, lookup) for p in parts)
    col = _resolve(text, obj, node.path)
    f, get, op = col.field, _getter(col), node.op
    ci = f.kind in STRINGY and f.kind not in ("id", "reference")   # case-insensitive compare
    if op == "like":
        if f.kind not in STRINGY or f.kind in ("id", "reference"):
            raise SoqlError("INVALID_FIELD", _caret(text, node.path.pos, f"invalid operator on {f.kind} field"))
        rx = re.compile(node.values[0].like or "", re.IGNORECASE | re.DOTALL)
        return lambda rec, lookup: (v := get(rec, lookup)) is not None and rx.fullmatch(v) is not None
    lits = [_literal(text, f, t, op) for t in node.values]
    if ci:
        lits = [v.lower() if isinstance(v, str) else v for v in lits]
    norm = (lambda v: v.lower() if v is not None else None) if ci else (lambda v: v)
    if op in ("in", "notin"):
        values = set(lits)
        if op == "in":
            return lambda rec, lookup: norm(get(rec, lookup)) in values
        return lambda rec, lookup: norm(get(rec, lookup)) not in values
    lit = lits[0]
    if op == "=":
        return lambda rec, lookup: norm(get(rec, lookup)) == lit
    if op == "!=":
        return lambda rec, lookup: norm(get(rec, lookup)) != lit
    if lit is None:
        raise SoqlError("MALFORMED_QUERY", _caret(text, node.values[0].pos, "unexpected token: 'null'"))
    if f.kind == "boolean":
        raise SoqlError("INVALID_FIELD", _caret(text, node.path.pos, f"invalid operator on boolean field: {op}"))
    cmp = {"<": lambda a: a < lit, ">": lambda a: a > lit, "<=": lambda a: a <= lit, ">=": lambda a: a >= lit}[op]
    return lambda rec, lookup: (v := norm(get(rec, lookup))) is not None and cmp(v)


def _index_hint(obj: SObject, where) -> tuple[str, str, list[str]] | None:
    """A conjunct that an index can answer (Email/Id/external id with = or IN): the store
    fetches those candidates and the full predicate filters them, so a lookup never scans."""
    conjuncts = where.items if isinstance(where, Logic) and where.op == "and" else [where]
    for c in conjuncts:
        if not isinstance(c, Compare) or c.op not in ("=", "in") or len(c.path.parts) != 1:
            continue
        f = obj.by_lower.get(c.path.parts[0].lower())
        if f is None:
            continue
        keys = [t.value for t in c.values if t.kind == "string"]
        if len(keys) != len(c.values):
            continue
        if f.name == "Id":
            return ("id", "Id", [k for k in (ids.normalize(k) for k in keys) if k])
        if f.name == "Email":
            return ("email", "Email", [k.strip().lower() for k in keys])
        if f.external_id:
            return ("ext", f.name, [k.strip().lower() for k in keys])
    return None
