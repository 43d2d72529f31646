"""Check a JSON value against a type of Microsoft's Graph CSDL (``tests.csdl``), recursively.

``type_errors(schema, "graph.mailboxSettings", body)`` lists every property the schema does not
declare on its type and every value whose JSON type does not fit the declared EDM type, enum
members included (``[]``: the value conforms). ``@odata.*`` annotations are ignored.
"""

from __future__ import annotations

import re
from typing import Any

from tests.csdl import Schema

TIME_OF_DAY = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d{1,7})?$")
DATE_TIME_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})$")
PRIMITIVES: dict[str, Any] = {
    "Edm.String": lambda v: isinstance(v, str),
    "Edm.Boolean": lambda v: isinstance(v, bool),
    "Edm.Int32": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Edm.Int64": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Edm.Guid": lambda v: isinstance(v, str) and len(v) == 36,
    "Edm.TimeOfDay": lambda v: isinstance(v, str) and bool(TIME_OF_DAY.match(v)),
    "Edm.DateTimeOffset": lambda v: isinstance(v, str) and bool(DATE_TIME_OFFSET.match(v)),
}


def _short(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]


def type_errors(schema: Schema, type_name: str, value: Any, where: str = "$") -> list[str]:
    """Why ``value`` is not a ``type_name`` (``graph.x``, ``Edm.String``, ``Collection(...)``)."""
    if value is None:
        return []  # every property the sandbox serves is nullable in the schema
    if type_name.startswith("Collection("):
        if not isinstance(value, list):
            return [f"{where}: expected a list for {type_name}, got {type(value).__name__}"]
        inner = type_name[len("Collection("):-1]
        return [e for i, v in enumerate(value) for e in type_errors(schema, inner, v, f"{where}[{i}]")]
    if type_name in PRIMITIVES:
        return [] if PRIMITIVES[type_name](value) else [f"{where}: {value!r} is not {type_name}"]
    name = _short(type_name)
    if name in schema.enums:
        return [] if value in schema.enums[name] else [f"{where}: {value!r} is not a member of {name}"]
    if name in schema.complexes or name in schema.entities:
        if not isinstance(value, dict):
            return [f"{where}: expected an object for {name}, got {type(value).__name__}"]
        cast = value.get("@odata.type")
        if isinstance(cast, str):  # a derived type, e.g. customTimeZone for timeZoneBase
            name = _short(cast.lstrip("#"))
        declared = schema.property_types(name)
        errors = [f"{where}.{k}: not a property of {name}" for k in value
                  if not k.startswith("@") and k not in declared]
        for k, v in value.items():
            if k in declared:
                errors += type_errors(schema, declared[k], v, f"{where}.{k}")
        return errors
    return [f"{where}: the schema has no type {type_name}"]
