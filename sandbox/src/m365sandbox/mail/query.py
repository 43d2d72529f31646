"""OData query options of the Outlook message routes: ``$select``, ``$filter``, ``$orderby``,
``$top``/``$skip``, ``$search``, with the errors Exchange gives for what it refuses."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from m365sandbox.context import GraphHTTPError
from m365sandbox.mail.model import Item
from m365sandbox.mail.schema import MESSAGE_PROPERTIES, parse_time

Predicate = Callable[[Item], bool]
MAX_TOP = 1000
DATE_PROPS = {"receivedDateTime", "sentDateTime", "createdDateTime", "lastModifiedDateTime"}
TEXT_PROPS = {"internetMessageId", "subject", "conversationId", "importance", "inferenceClassification",
              "parentFolderId", "id"}
BOOL_PROPS = {"isRead", "hasAttachments", "isDraft", "isReadReceiptRequested", "isDeliveryReceiptRequested"}
ADDRESS_PROPS = {"from/emailAddress/address": "from", "sender/emailAddress/address": "sender"}
RECIPIENT_LISTS = {"toRecipients", "ccRecipients", "bccRecipients", "replyTo"}
_STR = r"'(?:[^']|'')*'"
_TERM = re.compile(
    rf"\s*(?:(?P<not>not\s+)?(?P<fn>startswith|contains)\((?P<fprop>\w+)\s*,\s*(?P<fval>{_STR})\)"
    rf"|(?P<cat>categories)/any\((?P<cv>\w+):\s*(?P=cv)\s+eq\s+(?P<cval>{_STR})\)"
    rf"|(?P<rlist>\w+)/any\((?P<rv>\w+):\s*(?P=rv)/emailAddress/address\s+eq\s+(?P<rval>{_STR})\)"
    rf"|(?P<lhs>[\w/]+)\s+(?P<op>eq|ne|ge|gt|le|lt)\s+(?P<rhs>{_STR}|true|false|null|[0-9][0-9T:.\-+Z]*))\s*",
    re.IGNORECASE)
INVALID_FILTER = "The query filter contains one or more invalid nodes."


def bad_filter() -> GraphHTTPError:
    return GraphHTTPError(400, "ErrorInvalidUrlQueryFilter", INVALID_FILTER)


def parse_select(raw: str | None) -> list[str] | None:
    """``$select`` names, checked against ``microsoft.graph.message``."""
    if not raw:
        return None
    names = [s.strip() for s in raw.split(",") if s.strip()]
    for n in names:
        if n not in MESSAGE_PROPERTIES:
            raise GraphHTTPError(400, "RequestBroker--ParseUri",
                                 f"Could not find a property named '{n}' on type 'microsoft.graph.message'.")
    return names


def parse_top(raw: str | None, default: int = 10, maximum: int = MAX_TOP) -> int:
    if raw is None:
        return default
    if not raw.strip().isdigit() or not 1 <= int(raw) <= maximum:
        raise GraphHTTPError(400, "ErrorInvalidUrlQuery",
                             f"The value '{raw}' of query option '$top' is invalid: it must be between 1 "
                             f"and {maximum}.")
    return int(raw)


def parse_skip(raw: str | None) -> int:
    if raw is None:
        return 0
    if not raw.strip().isdigit():
        raise GraphHTTPError(400, "ErrorInvalidUrlQuery",
                             f"The value '{raw}' of query option '$skip' is invalid.")
    return int(raw)


def parse_orderby(raw: str | None) -> tuple[str, bool] | None:
    """(property, descending) for ``$orderby`` (only ``receivedDateTime`` is supported)."""
    if not raw:
        return None
    parts = raw.split()
    if len(parts) > 2 or parts[0] != "receivedDateTime" or (
            len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        raise GraphHTTPError(400, "ErrorInvalidUrlQuery",
                             f"The $orderby expression '{raw}' is not supported.")
    return parts[0], len(parts) == 2 and parts[1].lower() == "desc"


def _literal(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    if raw.startswith("'"):
        return raw[1:-1].replace("''", "'")
    return raw


def _compare(op: str, have: Any, want: Any) -> bool:
    if op == "eq":
        return bool(have == want)
    if op == "ne":
        return bool(have != want)
    if have is None or want is None:
        return False
    return {"ge": have >= want, "gt": have > want, "le": have <= want, "lt": have < want}[op]


def parse_filter(text: str, *, only_received_after: bool = False) -> tuple[Predicate, list[str]]:
    """A predicate for the supported ``$filter`` subset and the properties it names, in order.

    ``only_received_after`` is the delta rule: only ``receivedDateTime ge|gt`` is allowed."""
    pos, terms, joins, props = 0, [], [], []
    while True:
        m = _TERM.match(text, pos)
        if not m:
            raise bad_filter()
        pred, prop = _term(m)
        op = (m.group("op") or "").lower()
        if only_received_after and not (prop == "receivedDateTime" and op in ("ge", "gt")):
            raise GraphHTTPError(400, "ErrorInvalidUrlQueryFilter",
                                 "Only 'receivedDateTime ge|gt <value>' is supported in a delta $filter.")
        terms.append(pred)
        props.append(prop)
        pos = m.end()
        if pos >= len(text):
            break
        j = re.match(r"(and|or)\s+", text[pos:], re.IGNORECASE)
        if not j or only_received_after:
            raise bad_filter()
        joins.append(j.group(1).lower())
        pos += j.end()

    def combined(item: Item) -> bool:
        # OData precedence: 'and' binds tighter than 'or'.
        alternatives, current = [], terms[0](item)
        for op, term in zip(joins, terms[1:], strict=True):
            if op == "and":
                current = current and term(item)
            else:
                alternatives.append(current)
                current = term(item)
        return any(alternatives) or current

    return combined, props


def _term(m: re.Match[str]) -> tuple[Predicate, str]:
    if m.group("fn"):
        prop, fn = m.group("fprop"), m.group("fn").lower()
        if prop not in ("subject", "bodyPreview"):
            raise bad_filter()
        val = str(_literal(m.group("fval"))).lower()
        negate = bool(m.group("not"))

        def text_fn(it: Item) -> bool:
            have = str(it.get(prop) or "").lower()
            return (have.startswith(val) if fn == "startswith" else val in have) != negate
        return text_fn, prop
    if m.group("cat"):
        cval = str(_literal(m.group("cval"))).lower()
        return (lambda it: any(str(c).lower() == cval for c in it.get("categories") or [])), "categories"
    if m.group("rlist"):
        lst = m.group("rlist")
        if lst not in RECIPIENT_LISTS:
            raise bad_filter()
        rval = str(_literal(m.group("rval"))).lower()
        return (lambda it: any(str((r.get("emailAddress") or {}).get("address", "")).lower() == rval
                               for r in it.get(lst) or [])), lst
    lhs, op, want = m.group("lhs"), m.group("op").lower(), _literal(m.group("rhs"))
    if lhs in DATE_PROPS:
        if not isinstance(want, str):
            raise bad_filter()
        at = parse_time(want)
        if at == 0.0:
            raise bad_filter()
        return (lambda it: _compare(op, parse_time(it.get(lhs) or it.get("receivedDateTime")), at)), lhs
    if op not in ("eq", "ne"):
        raise bad_filter()
    if lhs in ADDRESS_PROPS:
        key = ADDRESS_PROPS[lhs]
        w = str(want or "").lower()

        def addr(it: Item) -> bool:
            rec = it.get(key) or (it.get("from") if key == "sender" else None) or {}
            have = str((rec.get("emailAddress") or {}).get("address", "")).lower()
            return (have == w) == (op == "eq")
        return addr, lhs
    if lhs in BOOL_PROPS:
        if not isinstance(want, bool):
            raise bad_filter()
        if lhs == "hasAttachments":
            return (lambda it: _compare(op, bool(it.get("hasAttachments")) or any(
                not a.get("isInline") for a in it.get("attachments") or []), want)), lhs
        return (lambda it: _compare(op, bool(it.get(lhs)), want)), lhs
    if lhs in TEXT_PROPS:
        if lhs == "internetMessageId":  # exact, as Exchange compares it
            return (lambda it: _compare(op, it.get(lhs), want)), lhs
        want_low = str(want).lower() if want is not None else None

        def text_eq(it: Item) -> bool:
            have = it.get(lhs)
            return _compare(op, str(have).lower() if have is not None else None, want_low)
        return text_eq, lhs
    raise bad_filter()


def check_orderby_with_filter(order: str, filter_props: list[str]) -> None:
    """Exchange's rule: a property in ``$orderby`` must also be the first one ``$filter`` names."""
    if filter_props and filter_props[0] != order:
        raise GraphHTTPError(400, "InefficientFilter", "The restriction or sort order is too complex for "
                             "this operation.")


def search_predicate(raw: str) -> Predicate:
    """``$search="words"``: every word in the subject, preview, body or sender address."""
    words = raw.strip().strip('"').lower().split()

    def pred(it: Item) -> bool:
        sender = str(((it.get("from") or {}).get("emailAddress") or {}).get("address", ""))
        hay = " ".join((str(it.get("subject") or ""), str(it.get("bodyPreview") or ""),
                        str((it.get("body") or {}).get("content") or ""), sender)).lower()
        return all(w in hay for w in words)
    return pred
