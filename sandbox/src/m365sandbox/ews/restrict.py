"""EWS search restrictions (``t:Restriction``) evaluated against a sandbox message.

Supports the expressions ``FindItem`` clients send: ``And``/``Or``/``Not``, the six comparisons
(``IsEqualTo`` ... ``IsLessThanOrEqualTo``) against a ``Constant``, ``Contains`` (FullString,
Prefixed, Substring; case-insensitive unless ``Exact``) and ``Exists``. String comparisons are
case-insensitive, as Exchange's are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from m365sandbox.ews.soap import NSMAP, Element, SoapFault, T, q
from m365sandbox.mail.model import Item

COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "IsEqualTo": lambda a, b: a == b, "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b, "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b, "IsLessThanOrEqualTo": lambda a, b: a <= b,
}
_TIME = {"item:DateTimeReceived": "receivedDateTime", "item:DateTimeSent": "sentDateTime",
         "item:DateTimeCreated": "createdDateTime", "item:LastModifiedTime": "lastModifiedDateTime"}
_TEXT = {"item:Subject": "subject", "message:InternetMessageId": "internetMessageId",
         "item:ItemClass": None, "message:ConversationTopic": "subject"}
_BOOL = {"message:IsRead": "isRead", "item:HasAttachments": "hasAttachments", "item:IsDraft": "isDraft"}
_ADDR = {"message:From": "from", "message:Sender": "sender"}


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _value(item: Item, uri: str) -> Any:
    if uri in _TIME:
        return _time(item.get(_TIME[uri]))
    if uri == "item:ItemClass":
        return "ipm.note"
    if uri in _TEXT:
        v = item.get(str(_TEXT[uri]))
        return None if v is None else str(v).lower()
    if uri in _BOOL:
        return bool(item.get(_BOOL[uri]))
    if uri in _ADDR:
        return str(((item.get(_ADDR[uri]) or {}).get("emailAddress") or {}).get("address") or "").lower() or None
    if uri == "item:Body":
        return str((item.get("body") or {}).get("content") or "").lower()
    raise SoapFault("ErrorUnsupportedPathForQuery", f"The property {uri} can't be used in a restriction.")


def _constant(uri: str, text: str) -> Any:
    if uri in _TIME:
        value = _time(text)
        if value is None:
            raise SoapFault("ErrorInvalidValueForProperty", f"'{text}' is not a valid date and time.")
        return value
    if uri in _BOOL:
        return text.strip().lower() == "true"
    return text.lower()


def _uri(expr: Element) -> str:
    el = expr.find("t:FieldURI", NSMAP)
    if el is None:
        raise SoapFault("ErrorUnsupportedPathForQuery", "Only FieldURI paths are supported in restrictions.")
    return str(el.get("FieldURI"))


def matcher(restriction: Element | None) -> Callable[[Item], bool] | None:
    """A predicate over items for a ``<m:Restriction>`` (None: no restriction)."""
    if restriction is None:
        return None
    exprs = [c for c in restriction if isinstance(c.tag, str)]
    if len(exprs) != 1:
        raise SoapFault("ErrorInvalidRestriction", "A restriction holds exactly one search expression.")
    return _compile(exprs[0])


def _compile(expr: Element) -> Callable[[Item], bool]:
    name = expr.tag.split("}", 1)[-1]
    kids = [c for c in expr if isinstance(c.tag, str)]
    if name in ("And", "Or"):
        parts = [_compile(k) for k in kids]
        return (lambda it: all(p(it) for p in parts)) if name == "And" else (lambda it: any(p(it) for p in parts))
    if name == "Not":
        inner = _compile(kids[0])
        return lambda it: not inner(it)
    if name == "Exists":
        uri = _uri(expr)
        return lambda it: _value(it, uri) not in (None, "")
    if name in COMPARE:
        uri, op = _uri(expr), COMPARE[name]
        const = expr.find("t:FieldURIOrConstant/t:Constant", NSMAP)
        if const is None:
            raise SoapFault("ErrorUnsupportedQueryFilter", "Comparisons need a constant value.")
        want = _constant(uri, str(const.get("Value") or ""))

        def compare(it: Item) -> bool:
            have = _value(it, uri)
            return have is not None and op(have, want)
        return compare
    if name == "Contains":
        uri = _uri(expr)
        const = expr.find(q(T, "Constant"))
        needle = str(const.get("Value") if const is not None else "")
        mode = expr.get("ContainmentMode") or "FullString"
        exact = (expr.get("ContainmentComparison") or "IgnoreCase") == "Exact"

        def contains(it: Item) -> bool:
            have = _value(it, uri)
            if have is None:
                return False
            hay, pin = (str(have), needle) if exact and uri == "item:Body" else (str(have), needle.lower())
            if mode == "Substring":
                return pin in hay
            if mode == "Prefixed":
                return hay.startswith(pin)
            return hay == pin
        return contains
    raise SoapFault("ErrorUnsupportedQueryFilter", f"The restriction {name} is not supported.")
