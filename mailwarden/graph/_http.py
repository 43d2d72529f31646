"""The one place that sends requests, retries them, and turns failures into the exception tree.

Shared by the Graph client and the Exchange admin API client.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import logging
import ssl
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from mailwarden.graph._clouds import host_key
from mailwarden.graph._errors import (
    DeltaExpired,
    Forbidden,
    GraphError,
    GraphStatusError,
    GraphTransportError,
    HostNotAllowed,
    NotFound,
    ServiceUnavailable,
    Throttled,
    scrub,
)
from mailwarden.graph._limits import mailbox_of, mailbox_semaphore
from mailwarden.graph._retry import RetryPolicy, parse_retry_after

__all__ = ["ErrorParser", "HttpCore", "error_details", "status_error"]

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Methods re-sent after any transient failure; others (POST, PATCH) only when the request surely was not run."""
NOT_SENT_ERRORS: tuple[type[httpx.RequestError], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before any byte of the request reached the server."""
DELTA_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})

ErrorParser = Callable[[httpx.Response], GraphStatusError]


def error_details(body: Any) -> tuple[str | None, str, str | None]:
    """(code, message, request id) from an OData error body, Graph's or the Exchange admin API's.

    The message is the most specific one present: ``error.details[].message``, then
    ``error.innererror.internalException.message``, then ``error.message``.
    """
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None, "", None
    code = err.get("code") if isinstance(err.get("code"), str) else None
    inner = err.get("innerError") or err.get("innererror") or {}
    inner = inner if isinstance(inner, dict) else {}
    details_raw = err.get("details")
    details: list[Any] = details_raw if isinstance(details_raw, list) else []
    detail_msgs = [str(d["message"]) for d in details if isinstance(d, dict) and d.get("message")]
    internal_raw = inner.get("internalException")
    internal: dict[str, Any] = internal_raw if isinstance(internal_raw, dict) else {}
    if detail_msgs:
        message = "; ".join(detail_msgs)
    elif internal.get("message"):
        message = str(internal["message"])
    else:
        message = str(err.get("message") or "")
    rid = inner.get("request-id") or inner.get("requestId")
    return code, message, str(rid) if rid else None


def status_error(status: int, code: str | None, message: str, request_id: str | None,
                 retry_after: float | None = None) -> GraphStatusError:
    """The exception class for an error status and service code."""
    if status == 410 or (code or "").lower() in DELTA_CODES:
        return DeltaExpired(status, code, message, request_id)
    if status == 429:
        return Throttled(status, code, message, request_id, retry_after=retry_after)
    if status == 404:
        return NotFound(status, code, message, request_id)
    if status == 403:
        return Forbidden(status, code, message, request_id)
    if status >= 500:
        return ServiceUnavailable(status, code, message, request_id)
    return GraphStatusError(status, code, message, request_id)


def parse_error(response: httpx.Response) -> GraphStatusError:
    """Default parser: OData error body, request id from the body or the ``request-id`` header."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code, message, rid = error_details(body)
    if not message:
        message = scrub(response.text[:200]) if response.content else response.reason_phrase
    rid = rid or response.headers.get("request-id") or response.headers.get("client-request-id")
    return status_error(response.status_code, code, message, rid, parse_retry_after(response.headers))


def _parse_body(response: httpx.Response) -> tuple[Any, bool]:
    """(JSON body or None, whether the body is usable)."""
    if not response.content:
        return None, True
    if "json" not in response.headers.get("content-type", "json"):
        return None, True
    try:
        return jsonlib.loads(response.content), True
    except ValueError:
        return None, False


class HttpCore:
    """An ``httpx.Client`` plus host allow-list, retries, per-mailbox slots and error translation."""

    def __init__(self, tenant_id: str, allowed_hosts: frozenset[str], auth: httpx.Auth | None, *,
                 transport: httpx.BaseTransport | None, verify: str | bool, retry: RetryPolicy,
                 timeout: float, error_parser: ErrorParser = parse_error,
                 mailbox_concurrency: int | None = None) -> None:
        if isinstance(verify, str):
            verify_arg: ssl.SSLContext | bool = ssl.create_default_context(cafile=verify)
        else:
            verify_arg = verify
        self.tenant_id = tenant_id
        self.allowed_hosts = allowed_hosts
        self.retry = retry
        self.error_parser = error_parser
        self.mailbox_concurrency = mailbox_concurrency
        self.http = httpx.Client(auth=auth, transport=transport, verify=verify_arg, timeout=timeout,
                                 follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def check_url(self, url: str, hosts: Iterable[str] | None = None) -> None:
        """Raise ``HostNotAllowed`` unless ``url`` is on one of ``hosts`` (default: the cloud's hosts)."""
        allowed = frozenset(hosts) if hosts is not None else self.allowed_hosts
        try:
            key = host_key(url)
        except ValueError:
            raise HostNotAllowed(f"refusing to send to a non-http(s) URL: {url[:200]!r}") from None
        if key not in allowed:
            raise HostNotAllowed(f"refusing to send to {key}: not a host of this tenant's cloud "
                                 f"({', '.join(sorted(allowed))})")

    def _slots(self, mailboxes: Iterable[str]) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        if self.mailbox_concurrency:
            # Sorted acquisition order: several mailboxes at once cannot deadlock.
            for mbx in sorted(set(mailboxes)):
                stack.enter_context(mailbox_semaphore(self.tenant_id, mbx, self.mailbox_concurrency))
        return stack

    def send(self, method: str, url: str, *, params: Any = None, json: Any = None,
             headers: dict[str, str] | None = None,
             mailboxes: Iterable[str] | None = None,
             idempotent: bool | None = None) -> tuple[httpx.Response, Any]:
        """Send with retries; return the 2xx/3xx response and its parsed JSON body (or ``None``).

        ``mailboxes`` overrides which mailbox slots the request holds (default: from the URL).
        ``idempotent`` (default: by method, see ``IDEMPOTENT_METHODS``) says whether the request may
        be re-sent after it may have been run. A non-idempotent one (a ``sendMail``, a move) is re-sent
        only when it surely was not: a connect error, a 429, or a 503 with ``Retry-After``. A reply that
        arrived (5xx, unreadable body) or a connection lost mid-request raises ``GraphTransportError``
        at once: the outcome is unknown and the caller must check before acting again.
        """
        self.check_url(url)
        try:
            request = self.http.build_request(method, url, params=params, json=json, headers=headers)
        except httpx.InvalidURL as exc:
            raise HostNotAllowed(f"refusing to send to a malformed URL: {exc}") from None
        if idempotent is None:
            idempotent = method.upper() in IDEMPOTENT_METHODS
        if mailboxes is None:
            one = mailbox_of(str(request.url))
            mailboxes = [one] if one else []
        slots = list(mailboxes)
        where = f"{method} {request.url.host}{request.url.path}"
        policy = self.retry
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            hint: float | None = None
            failure: GraphError
            resendable = idempotent  # may this failure be retried?
            try:
                with self._slots(slots):
                    response = self.http.send(request)
                # The body is read: drop httpx's response<->stream cycle so a page is freed at once, not at a full GC.
                response.stream = httpx.ByteStream(response.content)
            except httpx.RequestError as exc:  # connect errors, resets, protocol errors, timeouts
                failure = GraphTransportError(f"{where} failed: {type(exc).__name__}: {exc}")
                resendable = idempotent or isinstance(exc, NOT_SENT_ERRORS)
            except httpx.InvalidURL as exc:
                raise HostNotAllowed(f"refusing to send to a malformed URL: {exc}") from None
            except httpx.HTTPError as exc:  # not a transport failure (e.g. raised by an auth flow)
                raise GraphError(f"{where} failed: {type(exc).__name__}: {exc}") from None
            else:
                status = response.status_code
                if status < 400:
                    body, ok = _parse_body(response)
                    if ok:
                        return response, body
                    failure = GraphTransportError(f"{where} returned HTTP {status} with an unreadable "
                                                  "(truncated or invalid) JSON body")
                elif status in RETRY_STATUSES:
                    failure = self.error_parser(response)
                    if status in (429, 503):
                        hint = parse_retry_after(response.headers)
                    # Graph runs nothing it answers 429, or 503 with Retry-After; other 5xx may have run.
                    resendable = idempotent or status == 429 or hint is not None
                else:
                    raise self.error_parser(response)
            if not resendable:
                if isinstance(failure, GraphTransportError):
                    msg = str(failure)
                else:
                    msg = f"{where} failed with {failure}"
                log.warning("%s: not re-sent, outcome unknown: %s", where, msg)
                raise GraphTransportError(f"{msg} (not re-sent: it may have been run)") from failure
            delay = hint if hint is not None else policy.backoff(attempt)
            if attempt >= policy.max_attempts or waited + delay > policy.max_total_wait:
                log.warning("%s: giving up after %s attempts (%.1fs waited): %s",
                            where, attempt, waited, failure)
                raise failure
            log.info("%s: attempt %s failed (%s); retrying in %.2fs", where, attempt,
                     type(failure).__name__, delay)
            policy.sleep(delay)
            waited += delay
