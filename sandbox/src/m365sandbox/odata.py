"""OData query handling shared by the sandbox's Graph routes: envelopes, $select, $filter,
opaque skip tokens."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from m365sandbox.context import GraphHTTPError

Json = dict[str, Any]

DELTA_SEGMENTS = ("delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()")
"""How a client may address the delta function: Graph accepts the short name and the qualified one,
each with or without the call parentheses (Microsoft's SDKs send ``delta()``). The links of a round
repeat the path the client sent."""


def encode_token(data: Json) -> str:
    """An opaque, URL-safe token."""
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str) -> Json | None:
    """The data of :func:`encode_token`, or None when it is not one of ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def context_url(resource: str, fragment: str) -> str:
    """``@odata.context`` on the tenant's Graph host."""
    return f"{resource}/v1.0/$metadata#{fragment}"


def self_link(request: Request, params: dict[str, str]) -> str:
    """An absolute URL for the same path on the sandbox's own host."""
    base = str(request.base_url).rstrip("/")
    return f"{base}{request.url.path}?{urlencode(params)}"


def select_of(request: Request) -> list[str] | None:
    raw = request.query_params.get("$select")
    return [s.strip() for s in raw.split(",") if s.strip()] if raw else None


def project(obj: Json, select: list[str] | None, default: tuple[str, ...] | None,
            odata_type: str | None = None) -> Json:
    """The properties a response shows: ``$select``, else the default set (None: everything)."""
    names = select if select is not None else default
    out: Json = {}
    if odata_type:
        out["@odata.type"] = odata_type
    if names is None:
        out.update(obj)
        return out
    for n in names:
        out[n] = obj.get(n)
    return out


def check_select(select: list[str] | None, known: AbstractSet[str], type_name: str) -> None:
    for n in select or []:
        if n not in known:
            raise GraphHTTPError(400, "Request_BadRequest", f"Could not find a property named '{n}' "
                                 f"on type 'microsoft.graph.{type_name}'.")


def page_size(request: Request, default: int, maximum: int) -> int:
    raw = request.query_params.get("$top")
    prefer = request.headers.get("prefer", "")
    m = re.search(r"odata\.maxpagesize=(\d+)", prefer)
    if raw is None:
        return min(int(m.group(1)), maximum) if m else default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise GraphHTTPError(400, "Request_BadRequest", f"Invalid page size specified: '{raw}'. "
                             f"Must be between 1 and {maximum} inclusive.")
    return int(raw)


_TERM = re.compile(
    r"\s*(?:(?P<fn>startswith)\((?P<fprop>\w+),\s*'(?P<fval>(?:[^']|'')*)'\)"
    r"|(?P<prop>\w+)/any\(\w+:\w+\s+eq\s+'(?P<aval>(?:[^']|'')*)'\)"
    r"|(?P<lhs>\w+)\s+(?P<op>eq|ne)\s+(?P<rhs>'(?:[^']|'')*'|true|false|null))\s*", re.IGNORECASE)


def parse_filter(text: str, allowed: set[str]) -> Callable[[Json], bool]:
    """A predicate for a small ``$filter`` subset: eq/ne, startswith, any(), joined by and/or."""
    pos, terms, joins = 0, [], []
    while True:
        m = _TERM.match(text, pos)
        if not m:
            raise GraphHTTPError(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter "
                                 "clause specified for property or it is not supported.")
        terms.append(_predicate(m, allowed))
        pos = m.end()
        if pos >= len(text):
            break
        j = re.match(r"(and|or)\s+", text[pos:], re.IGNORECASE)
        if not j:
            raise GraphHTTPError(400, "BadRequest", f"Invalid filter clause: syntax error at position {pos}.")
        joins.append(j.group(1).lower())
        pos += j.end()

    def pred(obj: Json) -> bool:
        result = terms[0](obj)
        for op, term in zip(joins, terms[1:], strict=True):
            result = (result and term(obj)) if op == "and" else (result or term(obj))
        return result

    return pred


def _literal(raw: str) -> Any:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.lower() == "null":
        return None
    return raw[1:-1].replace("''", "'")


def _predicate(m: re.Match[str], allowed: set[str]) -> Callable[[Json], bool]:
    prop = m.group("fprop") or m.group("prop") or m.group("lhs")
    if prop not in allowed:
        raise GraphHTTPError(400, "Request_UnsupportedQuery",
                             f"Unsupported or invalid query filter clause specified for property '{prop}'.")
    if m.group("fn"):
        val = m.group("fval").replace("''", "'").lower()
        return lambda o: str(o.get(prop) or "").lower().startswith(val)
    if m.group("aval") is not None:
        aval = m.group("aval").replace("''", "'").lower()
        return lambda o: any(str(x).lower() == aval for x in o.get(prop) or [])
    val = _literal(m.group("rhs"))
    neg = m.group("op").lower() == "ne"

    def eq(o: Json) -> bool:
        have = o.get(prop)
        same = have.lower() == val.lower() if isinstance(have, str) and isinstance(val, str) else have == val
        return same != neg

    return eq
