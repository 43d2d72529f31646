"""Read Microsoft's published Graph CSDL (``<repo>/../shared/graph-schema``) for conformance tests.

API::

    schema = load_schema()                    # v1.0-Prod (or "v1.0-Fairfax", "v1.0-Mooncake")
    schema.properties("user")                 # structural + navigation names, base types included
    schema.structural("message"); schema.navigation("mailFolder")
    schema.complex_properties("emailAddress") # properties of a ComplexType (base types included)
    schema.property_types("mailboxSettings")  # name -> declared type ("graph.localeInfo", "Edm.String")
    schema.enums["userPurpose"]               # the members of an EnumType
    schema.has_path("users/{id}/mailFolders/{id}/messages/delta")   # entity sets, singletons,
                                              # navigation properties, bound actions/functions
    schema.unknown_properties("user", obj)    # top-level keys of obj not in the schema ("@odata.*" ignored)

Set ``MAILWARDEN_SHARED_DIR`` to read the schema from elsewhere. A missing schema skips the tests
that need it (``needs_schema``); under ``CI=true`` it fails them instead (``load_schema`` says what
is missing), so CI cannot go green by silently skipping conformance.
"""

from __future__ import annotations

import gzip
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
REPO = Path(__file__).resolve().parents[2]


def schema_dir() -> Path:
    return Path(os.environ.get("MAILWARDEN_SHARED_DIR", REPO / ".." / "shared")) / "graph-schema"


def in_ci() -> bool:
    """``CI=true``: data missing from the shared folder is a failure, not a skip."""
    return os.environ.get("CI", "").lower() == "true"


def require_shared(path: Path, what: str) -> Path:
    """``path`` when it exists; else skip the calling test, or fail it under ``CI=true``."""
    if not path.exists():
        message = f"{what} not found: {path} (MAILWARDEN_SHARED_DIR names the folder holding it)"
        if in_ci():
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return path


needs_schema = pytest.mark.skipif(
    not in_ci() and not (schema_dir() / "v1.0-Prod.csdl.gz").exists(),
    reason=f"Graph CSDL schema not found under {schema_dir()}",
)
"""Skip a test (or a module, as ``pytestmark``) without the schema; under CI the test runs and fails."""


def _short(type_name: str) -> str:
    """``Collection(graph.user)`` / ``microsoft.graph.user`` -> ``user``."""
    t = type_name
    if t.startswith("Collection("):
        t = t[len("Collection("):-1]
    return t.rsplit(".", 1)[-1]


@dataclass
class _Type:
    base: str | None = None
    structural: dict[str, str] = field(default_factory=dict)
    navigation: dict[str, str] = field(default_factory=dict)


@dataclass
class Schema:
    """Entity and complex types of the ``microsoft.graph`` namespace, with the container."""

    entities: dict[str, _Type] = field(default_factory=dict)
    complexes: dict[str, _Type] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)
    """entity set / singleton name -> entity type."""
    bound: dict[str, dict[str, str]] = field(default_factory=dict)
    """binding type (short, collection as ``Collection(x)``) -> operation name -> return type."""
    enums: dict[str, list[str]] = field(default_factory=dict)
    """EnumType name -> member names."""
    _singletons: set[str] = field(default_factory=set)

    def _chain(self, table: dict[str, _Type], name: str) -> list[_Type]:
        out, cur = [], table.get(name)
        while cur is not None:
            out.append(cur)
            cur = table.get(cur.base) if cur.base else None
        if not out:
            raise KeyError(name)
        return out

    def structural(self, entity: str) -> set[str]:
        return {p for t in self._chain(self.entities, entity) for p in t.structural}

    def navigation(self, entity: str) -> set[str]:
        return {p for t in self._chain(self.entities, entity) for p in t.navigation}

    def properties(self, entity: str) -> set[str]:
        return self.structural(entity) | self.navigation(entity)

    def complex_properties(self, name: str) -> set[str]:
        return {p for t in self._chain(self.complexes, name) for p in t.structural}

    def property_types(self, name: str) -> dict[str, str]:
        """Structural property -> declared type of an entity or complex type (base types included)."""
        table = self.complexes if name in self.complexes else self.entities
        return {p: ty for t in reversed(self._chain(table, name)) for p, ty in t.structural.items()}

    def unknown_properties(self, entity: str, obj: dict[str, Any]) -> set[str]:
        known = self.properties(entity)
        return {k for k in obj if "@" not in k and k not in known}

    def _nav_type(self, entity: str, name: str) -> str | None:
        for t in self._chain(self.entities, entity):
            if name in t.navigation:
                return t.navigation[name]
        return None

    def _bound_op(self, type_name: str, is_collection: bool, op: str) -> str | None:
        """Return type of an action/function bound to the type (or a base type), else None."""
        for n in self._ancestors(type_name):
            k = f"Collection({n})" if is_collection else n
            if op in self.bound.get(k, {}):
                return self.bound[k][op]
        return None

    def _ancestors(self, name: str) -> list[str]:
        out, cur = [], name
        while cur and cur in self.entities:
            out.append(cur)
            cur = self.entities[cur].base or ""
        return out or [name]

    def has_path(self, path: str) -> bool:
        """Whether a URL path template (``{id}`` for keys) exists in the schema."""
        segs = [s for s in path.strip("/").split("/") if s]
        if not segs or segs[0] not in self.roots:
            return False
        cur, is_coll = self.roots[segs[0]], segs[0] not in self._singletons
        for seg in segs[1:]:
            if seg.startswith("{") and is_coll:
                is_coll = False
                continue
            nav = None if is_coll else self._nav_type(cur, seg)
            if nav is not None:
                cur, is_coll = _short(nav), nav.startswith("Collection(")
                continue
            ret = self._bound_op(cur, is_coll, seg)
            if ret is None:
                return False
            cur, is_coll = _short(ret), ret.startswith("Collection(")
        return True


@lru_cache(maxsize=4)
def load_schema(name: str = "v1.0-Prod") -> Schema:
    """Parse ``<name>.csdl.gz`` (cached)."""
    path = require_shared(schema_dir() / f"{name}.csdl.gz", "Graph CSDL schema")
    with gzip.open(path) as fh:
        root = ET.parse(fh).getroot()
    s = Schema()
    for schema in root.iter(f"{EDM}Schema"):
        if schema.get("Namespace") != "microsoft.graph":
            continue
        for kind, table in (("EntityType", s.entities), ("ComplexType", s.complexes)):
            for el in schema.findall(f"{EDM}{kind}"):
                t = _Type(_short(el.get("BaseType", "")) or None)
                for p in el.findall(f"{EDM}Property"):
                    t.structural[p.get("Name", "")] = p.get("Type", "")
                for p in el.findall(f"{EDM}NavigationProperty"):
                    t.navigation[p.get("Name", "")] = p.get("Type", "")
                table[el.get("Name", "")] = t
        for el in schema.findall(f"{EDM}EnumType"):
            s.enums[el.get("Name", "")] = [m.get("Name", "") for m in el.findall(f"{EDM}Member")]
        for kind in ("Action", "Function"):
            for el in schema.findall(f"{EDM}{kind}"):
                if el.get("IsBound") != "true":
                    continue
                params = el.findall(f"{EDM}Parameter")
                ret = el.find(f"{EDM}ReturnType")
                binding = params[0].get("Type", "")
                key = (f"Collection({_short(binding)})" if binding.startswith("Collection(")
                       else _short(binding))
                returns = ret.get("Type", "") if ret is not None else ""
                s.bound.setdefault(key, {})[el.get("Name", "")] = returns
        for container in schema.findall(f"{EDM}EntityContainer"):
            for es in container.findall(f"{EDM}EntitySet"):
                s.roots[es.get("Name", "")] = _short(es.get("EntityType", ""))
            for sg in container.findall(f"{EDM}Singleton"):
                s.roots[sg.get("Name", "")] = _short(sg.get("Type", ""))
                s._singletons.add(sg.get("Name", ""))
    return s
