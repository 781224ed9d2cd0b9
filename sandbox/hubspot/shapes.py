"""The JSON shapes of HubSpot request bodies, checked before any handler reads them.

HubSpot deserializes bodies with Jackson into typed models, so a wrong-typed value anywhere
(`{"inputs": ["AAA"]}`, `{"properties": 5}`, `"limit": "a"`) is a 400 VALIDATION_ERROR whose message
names the position and the types, e.g. (hubspot-api-nodejs / hubspot-api-python / HubSpot.NET issues):

    Invalid input JSON on line 1, column 15: Cannot deserialize value of type
    `java.util.LinkedHashMap<java.lang.String,java.lang.String>` from Array value (token `JsonToken.START_ARRAY`)

Those real bodies carry no `category`; the spec's `Error` requires one, so VALIDATION_ERROR is
added (UNCONFIRMED). Jackson's default coercions are kept: a number or boolean where a string is
expected becomes its text, a numeric string where an integer is expected becomes the number.
`null` is the same as an absent field. Unknown fields are ignored (the spec's models allow them).
"""
from __future__ import annotations

import json
from json.decoder import scanstring

from sandbox.hubspot.util import validation_error


class Shape:
    java = "java.lang.Object"

    def check(self, value, path: tuple):
        raise NotImplementedError


class _Str(Shape):
    java = "java.lang.String"

    def check(self, value, path):
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return repr(value)
        raise _Mismatch(self, value, path)


class _Text(Shape):
    """A string and nothing else: where HubSpot's model is not a plain String (a search sort is a
    string *or* an object), a number is refused rather than coerced."""

    java = "java.lang.String"

    def check(self, value, path):
        if isinstance(value, str):
            return value
        raise _Mismatch(self, value, path)


class _Scalar(Shape):
    """A property value: any JSON scalar, kept as sent (PropertyRegistry.normalize renders it)."""

    java = "java.lang.String"

    def check(self, value, path):
        if value is None or isinstance(value, (str, int, float, bool)):
            return value
        raise _Mismatch(self, value, path)


class _Int(Shape):
    java = "int"

    def check(self, value, path):
        if isinstance(value, bool):
            raise _Mismatch(self, value, path)
        if isinstance(value, int):
            n = value
        elif isinstance(value, float) and value.is_integer():
            n = int(value)
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            n = int(value.strip())
        else:
            raise _Mismatch(self, value, path)
        if not -2 ** 31 <= n < 2 ** 31:
            raise _Mismatch(self, value, path, note="out of range of int (-2147483648 - 2147483647)")
        return n


class _Bool(Shape):
    java = "boolean"

    def check(self, value, path):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _Mismatch(self, value, path)


STR, TEXT, SCALAR, INT, BOOL = _Str(), _Text(), _Scalar(), _Int(), _Bool()


class Obj(Shape):
    def __init__(self, java: str, **fields: Shape) -> None:
        self.java = java
        self.fields = {k.rstrip("_"): v for k, v in fields.items()}  # `from_` spells the JSON key "from"

    def check(self, value, path):
        if not isinstance(value, dict):
            raise _Mismatch(self, value, path)
        out = {}
        for k, v in value.items():
            shape = self.fields.get(k)
            if v is None:
                continue
            out[k] = shape.check(v, path + (k,)) if shape is not None else v
        return out


class Arr(Shape):
    def __init__(self, item: Shape) -> None:
        self.item = item
        self.java = f"java.util.ArrayList<{item.java}>"

    def check(self, value, path):
        if not isinstance(value, list):
            raise _Mismatch(self, value, path)
        out = []
        for i, v in enumerate(value):
            if v is None:
                raise _Mismatch(self.item, v, path + (i,))
            out.append(self.item.check(v, path + (i,)))
        return out


class Map(Shape):
    def __init__(self, value: Shape) -> None:
        self.value = value
        self.java = f"java.util.LinkedHashMap<java.lang.String,{value.java}>"

    def check(self, value, path):
        if not isinstance(value, dict):
            raise _Mismatch(self, value, path)
        return {k: self.value.check(v, path + (k,)) for k, v in value.items()}


class Either(Shape):
    """The first shape the value fits (search `sorts`: "-createdate" or {propertyName, direction})."""

    def __init__(self, *shapes: Shape) -> None:
        self.shapes = shapes
        self.java = shapes[-1].java

    def check(self, value, path):
        for s in self.shapes:
            try:
                return s.check(value, path)
            except _Mismatch:
                continue
        raise _Mismatch(self, value, path)


class _Mismatch(Exception):
    def __init__(self, shape: Shape, value, path: tuple, note: str | None = None) -> None:
        super().__init__(path)
        self.shape, self.value, self.path, self.note = shape, value, path, note


_TOKENS = {dict: ("Object", "START_OBJECT"), list: ("Array", "START_ARRAY"), str: ("String", "VALUE_STRING"),
           bool: ("Boolean", "VALUE_TRUE"), int: ("Integer", "VALUE_NUMBER_INT"),
           float: ("Floating-point", "VALUE_NUMBER_FLOAT"), type(None): ("Null", "VALUE_NULL")}


def parse(req, shape: Shape):
    """The request's JSON body, checked against `shape` (None when there is no body)."""
    try:
        body = json.loads(req.body.decode("utf-8"), parse_constant=_not_json) if req.body else None
    except ValueError as e:  # malformed, not UTF-8, or NaN/Infinity (Python reads those, Jackson does not)
        raise validation_error(f"Invalid input JSON on line 1, column 1: {e}") from None
    if body is None:
        return None
    try:
        return shape.check(body, ())
    except _Mismatch as m:
        line, col = _position(req.body.decode("utf-8", "replace"), m.path)
        kind, token = _TOKENS[type(m.value)]
        if m.value is False:
            token = "VALUE_FALSE"
        detail = (f"Cannot deserialize value of type `{m.shape.java}` from {kind} value (token `JsonToken.{token}`)"
                  if m.note is None else f"Numeric value ({m.value}) {m.note}")
        raise validation_error(f"Invalid input JSON on line {line}, column {col}: {detail}") from None


def _not_json(token: str):
    raise ValueError(f"Non-standard token '{token}'")


def _position(text: str, path: tuple) -> tuple[int, int]:
    """1-based line and column where the value at `path` starts (Jackson reports positions)."""
    try:
        i = _find(text, path)
    except (ValueError, IndexError):
        i = 0
    line = text.count("\n", 0, i) + 1
    return line, i - (text.rfind("\n", 0, i) + 1) + 1


_DECODER = json.JSONDecoder()


def _ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _find(text: str, path: tuple) -> int:
    i = _ws(text, 0)
    for key in path:
        if isinstance(key, str):
            i = _ws(text, i + 1)  # past "{"
            while text[i] != "}":
                name, i = scanstring(text, i + 1)
                i = _ws(text, _ws(text, i) + 1)  # past ":"
                if name == key:
                    break
                _, i = _DECODER.raw_decode(text, i)
                i = _ws(text, i)
                if text[i] == ",":
                    i = _ws(text, i + 1)
            else:
                return i
        else:
            i = _ws(text, i + 1)  # past "["
            for _ in range(key):
                _, i = _DECODER.raw_decode(text, i)
                i = _ws(text, _ws(text, i) + 1)  # past ","
    return i


# ---- the request bodies (names from HubSpot's OpenAPI specs) ------------------------------------------
PROPERTIES = Map(SCALAR)
ASSOCIATION_SPEC = Obj("AssociationSpec", associationCategory=STR, associationTypeId=INT)
OBJECT_ID = Obj("PublicObjectId", id=STR)
CREATE = Obj("SimplePublicObjectInputForCreate", properties=PROPERTIES, objectWriteTraceId=STR,
             associations=Arr(Obj("PublicAssociationsForObject", to=OBJECT_ID, types=Arr(ASSOCIATION_SPEC))))
UPDATE = Obj("SimplePublicObjectInput", properties=PROPERTIES, objectWriteTraceId=STR)
_RECORD_ID = Obj("SimplePublicObjectId", id=STR)
BATCH_READ = Obj("BatchReadInputSimplePublicObjectId", inputs=Arr(_RECORD_ID), properties=Arr(STR),
                 propertiesWithHistory=Arr(STR), idProperty=STR)
BATCH_CREATE = Obj("BatchInputSimplePublicObjectBatchInputForCreate", inputs=Arr(CREATE))
BATCH_UPDATE = Obj("BatchInputSimplePublicObjectBatchInput", idProperty=STR, inputs=Arr(Obj(
    "SimplePublicObjectBatchInput", id=STR, idProperty=STR, objectWriteTraceId=STR, properties=PROPERTIES)))
BATCH_UPSERT = Obj("BatchInputSimplePublicObjectBatchInputUpsert", inputs=Arr(Obj(
    "SimplePublicObjectBatchInputUpsert", id=STR, idProperty=STR, objectWriteTraceId=STR, properties=PROPERTIES)))
BATCH_ARCHIVE = Obj("BatchInputSimplePublicObjectId", inputs=Arr(_RECORD_ID))
MERGE = Obj("PublicMergeInput", primaryObjectId=STR, objectIdToMerge=STR)
GDPR_DELETE = Obj("PublicGdprDeleteInput", objectId=STR, idProperty=STR)
_FILTER = Obj("Filter", propertyName=STR, operator=STR, value=STR, highValue=STR, values=Arr(STR))
SEARCH = Obj("PublicObjectSearchRequest", query=STR, limit=INT, after=STR, properties=Arr(STR),
             sorts=Arr(Either(TEXT, Obj("PublicSort", propertyName=STR, direction=STR))),
             filterGroups=Arr(Obj("FilterGroup", filters=Arr(_FILTER))),
             filters=Arr(_FILTER))  # the legacy top-level form some clients still send

V4_SPECS = Arr(ASSOCIATION_SPEC)
V4_BATCH_READ = Obj("BatchInputPublicFetchAssociationsBatchRequest", inputs=Arr(
    Obj("PublicFetchAssociationsBatchRequest", id=STR, after=STR)))
V4_BATCH_CREATE = Obj("BatchInputPublicAssociationMultiPost", inputs=Arr(
    Obj("PublicAssociationMultiPost", from_=OBJECT_ID, to=OBJECT_ID, types=Arr(ASSOCIATION_SPEC))))
V4_BATCH_DEFAULT = Obj("BatchInputPublicDefaultAssociationMultiPost", inputs=Arr(
    Obj("PublicDefaultAssociationMultiPost", from_=OBJECT_ID, to=OBJECT_ID)))
V4_BATCH_ARCHIVE = Obj("BatchInputPublicAssociationMultiArchive", inputs=Arr(
    Obj("PublicAssociationMultiArchive", from_=OBJECT_ID, to=Arr(OBJECT_ID))))

_OPTION = Obj("OptionInput", label=STR, value=STR, description=STR, displayOrder=INT, hidden=BOOL)
_PROPERTY_FIELDS = dict(label=STR, type=STR, fieldType=STR, groupName=STR, description=STR, options=Arr(_OPTION),
                        displayOrder=INT, hidden=BOOL, formField=BOOL, calculationFormula=STR,
                        currencyPropertyName=STR, numberDisplayHint=STR, textDisplayHint=STR, showCurrencySymbol=BOOL)
PROPERTY_CREATE = Obj("PropertyCreate", name=STR, hasUniqueValue=BOOL, externalOptions=BOOL, referencedObjectType=STR,
                      dataSensitivity=STR, **_PROPERTY_FIELDS)
PROPERTY_UPDATE = Obj("PropertyUpdate", **_PROPERTY_FIELDS)
