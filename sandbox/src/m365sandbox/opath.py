"""The OPATH ``-Filter`` subset the sandbox's Get-Recipient / Get-Mailbox understand.

``Property -eq 'value'`` (also ``-ne``, ``-like`` with ``*`` wildcards), clauses joined by
``-and`` / ``-or`` (``-and`` binds tighter), optional parentheses around a clause, values in
single or double quotes (a doubled quote escapes itself). Property names are case-insensitive,
values compare case-insensitively, as Exchange does. A filter of only
``ExternalDirectoryObjectId -eq`` clauses joined by ``-or`` is answered from the ids directly,
without looking at every recipient.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from typing import Any

Json = dict[str, Any]
_CLAUSE = re.compile(
    r"""\s*\(?\s*(?P<prop>[A-Za-z][A-Za-z0-9]*)\s+-(?P<op>eq|ne|like)\s+
        (?:'(?P<sq>(?:[^']|'')*)'|"(?P<dq>(?:[^"]|"")*)")\s*\)?\s*""",
    re.IGNORECASE | re.VERBOSE,
)
_JOIN = re.compile(r"-(and|or)\b", re.IGNORECASE)
ID_PROPERTY = "externaldirectoryobjectid"


def parse(text: str) -> list[list[tuple[str, str, str]]]:
    """``-or`` of ``-and`` groups of (lower-case property, operator, value); ValueError if unsupported."""
    pos, groups, current = 0, [], []
    while True:
        m = _CLAUSE.match(text, pos)
        if m is None:
            raise ValueError(f"unsupported filter near position {pos}: {text[pos:pos + 40]!r}")
        value = m.group("sq").replace("''", "'") if m.group("sq") is not None \
            else m.group("dq").replace('""', '"')
        current.append((m.group("prop").lower(), m.group("op").lower(), value))
        pos = m.end()
        if pos >= len(text):
            groups.append(current)
            return groups
        j = _JOIN.match(text, pos)
        if j is None:
            raise ValueError(f"expected -and or -or at position {pos}: {text[pos:pos + 40]!r}")
        if j.group(1).lower() == "or":
            groups.append(current)
            current = []
        pos = j.end()


def _value(view: Json, prop: str) -> list[str]:
    for key, v in view.items():
        if key.lower() == prop:
            if isinstance(v, list):
                return [str(x).split(":", 1)[-1] if prop == "emailaddresses" else str(x) for x in v]
            return [] if v is None else [str(v)]
    return []


def _holds(view: Json, prop: str, op: str, value: str) -> bool:
    got = [g.lower() for g in _value(view, prop)]
    want = value.lower()
    if op == "eq":
        return want in got
    if op == "ne":
        return want not in got
    return any(fnmatch.fnmatchcase(g, want) for g in got)


def select_ids(text: str, ids: Iterable[str], view_of: Callable[[str], Json]) -> list[str]:
    """The ids (of ``ids``, in order) whose recipient view matches the filter ``text``."""
    groups = parse(text)
    if all(len(g) == 1 and g[0][0] == ID_PROPERTY and g[0][1] == "eq" for g in groups):
        wanted = {g[0][2].lower() for g in groups}
        return [oid for oid in ids if oid.lower() in wanted]
    return [oid for oid in ids
            if any(all(_holds(view_of(oid), p, op, v) for p, op, v in g) for g in groups)]
