"""SOAP 1.1 envelopes of Exchange Web Services: parse a request, build replies and faults.

Namespaces and element names are EWS's own (``messages.xsd`` / ``types.xsd`` of Exchange 2016);
the request XML is parsed without entity resolution or network access.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
NSMAP = {"s": SOAP, "m": M, "t": T}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)
SERVER_VERSION = {"MajorVersion": "15", "MinorVersion": "1", "MajorBuildNumber": "2507",
                  "MinorBuildNumber": "6", "Version": "V2017_07_11"}
"""An Exchange 2016 CU23 build, as ``ServerVersionInfo`` reports it."""

Element = Any


class SoapFault(Exception):
    """A SOAP fault with an EWS ``ResponseCode`` in its detail (HTTP 500)."""

    def __init__(self, code: str, message: str, *, client: bool = True) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.client = client


class OperationError(Exception):
    """An error ResponseMessage (``ResponseClass="Error"``) for one item of an operation."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def q(ns: str, name: str) -> str:
    """Clark notation ``{ns}name``."""
    return f"{{{ns}}}{name}"


def parse(raw: bytes) -> tuple[Element, Element]:
    """(SOAP header or None, the operation element in the body); a fault when malformed."""
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault("ErrorSchemaValidation", f"The request failed schema validation: {exc}") from exc
    if root.tag != q(SOAP, "Envelope"):
        raise SoapFault("ErrorSchemaValidation", "The request is not a SOAP 1.1 envelope.")
    header = root.find(q(SOAP, "Header"))
    body = root.find(q(SOAP, "Body"))
    ops = [c for c in (body if body is not None else []) if isinstance(c.tag, str)]
    if len(ops) != 1 or not ops[0].tag.startswith(f"{{{M}}}"):
        raise SoapFault("ErrorInvalidRequest", "The request body must hold exactly one EWS operation.")
    return header, ops[0]


def sub(parent: Element, ns: str, name: str, text: str | None = None, **attrs: str) -> Element:
    """Append a child element (with text and attributes)."""
    el = etree.SubElement(parent, q(ns, name), {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = text
    return el


def envelope(body_child: Element) -> bytes:
    """A full reply envelope with ``ServerVersionInfo`` in the header."""
    env = etree.Element(q(SOAP, "Envelope"), nsmap={"s": SOAP})
    head = sub(env, SOAP, "Header")
    info = etree.SubElement(head, q(T, "ServerVersionInfo"), nsmap={"h": T})
    for k, v in SERVER_VERSION.items():
        info.set(k, v)
    sub(env, SOAP, "Body").append(body_child)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def response(operation: str) -> tuple[Element, Element]:
    """``<m:{operation}Response><m:ResponseMessages>``: (response element, messages container)."""
    resp = etree.Element(q(M, f"{operation}Response"), nsmap={"m": M, "t": T})
    return resp, sub(resp, M, "ResponseMessages")


def message(container: Element, operation: str, error: OperationError | None = None) -> Element:
    """One ``<m:{operation}ResponseMessage>``: Success/NoError, or the error's code and text."""
    msg = sub(container, M, f"{operation}ResponseMessage", ResponseClass="Error" if error else "Success")
    if error is not None:
        sub(msg, M, "MessageText", error.message)
    sub(msg, M, "ResponseCode", error.code if error else "NoError")
    if error is not None:
        sub(msg, M, "DescriptiveLinkKey", "0")
    return msg


def fault(exc: SoapFault) -> bytes:
    """A SOAP fault body with the EWS response code in ``detail``."""
    env = etree.Element(q(SOAP, "Envelope"), nsmap={"s": SOAP})
    body = sub(env, SOAP, "Body")
    f = sub(body, SOAP, "Fault")
    code = etree.SubElement(f, "faultcode", nsmap={"a": T})
    code.text = "a:" + exc.code if exc.client else "s:Server"
    string = etree.SubElement(f, "faultstring")
    string.text = exc.message
    detail = etree.SubElement(f, "detail")
    rc = etree.SubElement(detail, q("http://schemas.microsoft.com/exchange/services/2006/errors", "ResponseCode"),
                          nsmap={"e": "http://schemas.microsoft.com/exchange/services/2006/errors"})
    rc.text = exc.code
    msg = etree.SubElement(detail, q("http://schemas.microsoft.com/exchange/services/2006/errors", "Message"))
    msg.text = exc.message
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def text(el: Element | None, path: str, default: str | None = None) -> str | None:
    """Text of the first match of ``path`` (``t:``/``m:`` prefixes) under ``el``."""
    if el is None:
        return default
    found = el.find(path, NSMAP)
    return found.text if found is not None and found.text is not None else default
