"""Fixed costs for input from outside: the consent callback and the notification receiver.

Both endpoints face the internet, so what a stranger sends must cost us a small, bounded amount
of memory and CPU before we know whether it is genuine:

- :class:`HeadLimits` (ASGI middleware): a query string over ``max_query`` bytes gets 414, request
  headers over ``max_header_bytes`` bytes or ``max_headers`` fields get 431, before any route runs;
  every response carries ``X-Content-Type-Options: nosniff``.
- :func:`read_body`: ``Content-Length`` is checked first (over the limit: 413 at once, nothing
  read), then the body is read chunk by chunk and dropped with 413 as soon as it passes the limit
  (a lying or missing ``Content-Length`` changes nothing), within a deadline (408).
- :func:`parse_json`: bytes that are not UTF-8 JSON, that hold more than ``max_values`` values
  (counted on the bytes before decoding: decoding costs per value) or nest deeper than
  ``max_depth``, and the parser's own ``RecursionError``, are all a 400, never a 500.
- :class:`RefusalBudget`: a per-source token bucket of *refused* requests (429 once spent); a
  source that delivered a genuine notification lately is never throttled.
- :func:`redact_access_log`: uvicorn's access log records the path without its query string, so
  the consent ``state``, a ``code`` or a ``validationToken`` never reaches a log.

Each refusal is an :class:`InputRefused` carrying the status and a reason that is safe to log and
to show (it never quotes the input).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "uvicorn.access"
NOSNIFF = (b"x-content-type-options", b"nosniff")


class InputRefused(Exception):
    """Outside input refused before it reached anything that matters; ``status`` and a safe reason."""

    def __init__(self, status: int, reason: str, *, close: bool = False,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})
        if close:  # stop reading what the client is still sending: the rest is not worth our time
            self.headers["Connection"] = "close"

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.reason}, status_code=self.status, headers=self.headers)


# --- the request head ------------------------------------------------------------------------


class HeadLimits:
    """Refuse oversize query strings (414) and header blocks (431) before routing; add ``nosniff``.

    uvicorn (h11) already refuses a request head over 16 KiB with 400; these limits sit below it
    and answer with the precise status.
    """

    def __init__(self, app: ASGIApp, *, max_query: int = 4096, max_header_bytes: int = 12 * 1024,
                 max_headers: int = 100) -> None:
        self.app = app
        self.max_query = max_query
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers") or []
        refused: InputRefused | None = None
        if len(scope.get("query_string") or b"") > self.max_query:
            refused = InputRefused(414, "query string too long")
        elif len(headers) > self.max_headers or sum(len(k) + len(v) for k, v in headers) > self.max_header_bytes:
            refused = InputRefused(431, "request headers too large")
        if refused is not None:
            await refused.response()(scope, receive, self._nosniff(send))
            return
        await self.app(scope, receive, self._nosniff(send))

    @staticmethod
    def _nosniff(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                if all(k.lower() != NOSNIFF[0] for k, _ in headers):
                    headers.append(NOSNIFF)
                message = {**message, "headers": headers}
            await send(message)

        return wrapped


# --- the body --------------------------------------------------------------------------------


async def read_body(request: Request, limit: int, *, timeout: float) -> bytes:
    """The request body, at most ``limit`` bytes, received within ``timeout`` seconds.

    Never holds more than ``limit`` bytes plus one chunk: a declared ``Content-Length`` over the
    limit is refused before anything is read, and the stream is abandoned as soon as it passes
    the limit, whatever the header said.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise InputRefused(400, "invalid Content-Length", close=True)
        if int(declared) > limit:
            raise InputRefused(413, f"body larger than {limit} bytes", close=True)
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                if len(body) + len(chunk) > limit:
                    raise InputRefused(413, f"body larger than {limit} bytes", close=True)
                body += chunk
    except TimeoutError:
        raise InputRefused(408, "body not received in time", close=True) from None
    except ClientDisconnect:
        raise InputRefused(400, "client disconnected", close=True) from None
    return bytes(body)


def _deeper_than(value: Any, max_depth: int) -> bool:
    """True if a decoded JSON value nests more than ``max_depth`` containers (``[]`` is 1 deep)."""
    level = [value] if type(value) in (dict, list) else []
    depth = 0
    while level:  # breadth first, one level at a time: only containers are ever looked at twice
        depth += 1
        if depth > max_depth:
            return True
        below: list[Any] = []
        for node in level:
            below.extend([c for c in (node.values() if type(node) is dict else node) if type(c) in (dict, list)])
        level = below
    return False


def parse_json(raw: bytes, *, max_depth: int, max_values: int) -> Any:
    """``raw`` decoded as JSON, else :class:`InputRefused` (400): not UTF-8, not JSON, more than
    about ``max_values`` values, or nested deeper than ``max_depth``.

    The cost of decoding is the number of values it builds, not the byte count (1 MiB of ``[],``
    is 340,000 lists and half a second), so values are bounded first, on the bytes, at C speed:
    every value but the first of a container follows a comma, so commas plus opening brackets
    bound the values and keys (brackets and commas inside strings only make the bound stricter).
    ``json.loads`` then runs in C, and the depth check walks at most that many values. Input
    nested deeper than the interpreter's recursion limit makes ``json.loads`` raise
    ``RecursionError`` within that many levels, which is a 400 too.
    """
    try:
        # UTF-8 only (RFC 8259 for JSON on the wire; json.loads would also guess UTF-16/32).
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputRefused(400, "body is not UTF-8 JSON") from None
    if raw.count(b",") + raw.count(b"[") + raw.count(b"{") > max_values:
        raise InputRefused(400, f"body has more than {max_values} JSON values")
    try:
        value = json.loads(text)
    except RecursionError:
        raise InputRefused(400, "body is nested too deeply") from None
    except ValueError:  # also integers too long to convert
        raise InputRefused(400, "body is not JSON") from None
    if _deeper_than(value, max_depth):
        raise InputRefused(400, "body is nested too deeply")
    return value


# --- who sends it ----------------------------------------------------------------------------


def source_key(host: str | None) -> str:
    """The rate-limiting key of a client address: the address, or its /64 for IPv6."""
    if not host:
        return "unknown"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if addr.version == 6:
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


@dataclass
class _Source:
    tokens: float
    stamp: float
    trusted_until: float = -math.inf


class RefusalBudget:
    """How many refused requests a source may send: ``burst`` at once, then ``per_second``.

    Only refusals spend the budget; a source that is out of it gets 429 (``retry_after``) before
    its body is read. A source that delivered an accepted (genuine) notification within
    ``trusted_for`` seconds is never throttled, so an attacker sharing an address with Graph (a
    proxy, a NAT) cannot get Graph's deliveries refused; it only gets its own forgeries refused,
    each cheaply. At most ``max_sources`` sources are remembered (least recently seen forgotten).
    """

    def __init__(self, *, burst: int = 30, per_second: float = 5.0, trusted_for: float = 600.0,
                 max_sources: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = float(burst)
        self.per_second = per_second
        self.trusted_for = trusted_for
        self.max_sources = max_sources
        self.clock = clock
        self._sources: OrderedDict[str, _Source] = OrderedDict()

    def _get(self, key: str, now: float) -> _Source:
        src = self._sources.get(key)
        if src is None:
            src = self._sources[key] = _Source(self.burst, now)
            while len(self._sources) > self.max_sources:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(key)
            src.tokens = min(self.burst, src.tokens + (now - src.stamp) * self.per_second)
            src.stamp = now
        return src

    def retry_after(self, key: str) -> float | None:
        """None if the source may be heard now, else the seconds until it may."""
        now = self.clock()
        src = self._get(key, now)
        if src.trusted_until > now or src.tokens >= 1:
            return None
        return (1 - src.tokens) / self.per_second

    def refused(self, key: str) -> bool:
        """Spend one refusal; True when this one used up the source's budget (log it once)."""
        now = self.clock()
        src = self._get(key, now)
        if src.trusted_until > now:
            return False
        before = src.tokens
        src.tokens = max(0.0, src.tokens - 1)
        return before >= 1 > src.tokens

    def accepted(self, key: str) -> None:
        """The source delivered a genuine notification: trust it for ``trusted_for`` seconds."""
        now = self.clock()
        src = self._get(key, now)
        src.trusted_until = now + self.trusted_for
        src.tokens = self.burst


# --- what the logs keep ----------------------------------------------------------------------


class RedactQuery(logging.Filter):
    """Keeps the query string out of uvicorn's access log lines (it carries state, tokens, codes).

    uvicorn logs ``'%s - "%s %s HTTP/%s" %d'`` with (client, method, path with query, version,
    status); the path loses everything after ``?``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (args[0], args[1], args[2].split("?", 1)[0] + "?[query omitted]", args[3], args[4])
        return True


def redact_access_log(logger_name: str = ACCESS_LOGGER) -> None:
    """Install :class:`RedactQuery` on uvicorn's access logger (idempotent). Call it after
    ``uvicorn.Config(...)`` is built, wherever a server for these endpoints is started."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactQuery) for f in logger.filters):
        logger.addFilter(RedactQuery())
