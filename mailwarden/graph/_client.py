"""``GraphClient``: Microsoft Graph v1.0 calls, lazy paging and delta, for one tenant."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from mailwarden.graph._auth import validate_tenant_ref
from mailwarden.graph._batch import BatchRequest, BatchResponse, run_batch
from mailwarden.graph._clouds import CloudEndpoints, host_key
from mailwarden.graph._errors import GraphError
from mailwarden.graph._http import HttpCore
from mailwarden.graph._retry import RetryPolicy

__all__ = ["DeltaIterator", "DeltaPage", "GraphClient"]

log = logging.getLogger(__name__)

_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})


@dataclass
class DeltaPage:
    """All items of a delta round and the ``@odata.deltaLink`` to store for the next one."""

    items: list[dict[str, Any]]
    delta_link: str


class DeltaIterator:
    """Lazy delta items; ``delta_link`` is set once the iterator is exhausted."""

    def __init__(self, pages: Iterator[dict[str, Any]]) -> None:
        self._pages = pages
        self._items: Iterator[dict[str, Any]] = iter(())
        self.delta_link: str | None = None
        self._done = False

    def __iter__(self) -> DeltaIterator:
        return self

    def __next__(self) -> dict[str, Any]:
        while True:
            try:
                return next(self._items)
            except StopIteration:
                if self._done:
                    raise
            try:
                page = next(self._pages)
            except StopIteration:
                self._done = True
                if self.delta_link is None:
                    raise GraphError("delta ended without an @odata.deltaLink") from None
                raise
            self.delta_link = page.get("@odata.deltaLink") or self.delta_link
            value = page.get("value")
            self._items = iter(value if isinstance(value, list) else [])


class GraphClient:
    """Synchronous, thread-safe Microsoft Graph client for one tenant.

    Paths are relative to ``{graph_url}/v1.0`` (``"/users"``); absolute URLs (next/delta links)
    must be on the cloud's hosts. Failures raise the ``GraphError`` tree.
    """

    def __init__(self, tenant_id: str, endpoints: CloudEndpoints, auth: httpx.Auth, *,
                 transport: httpx.BaseTransport | None = None, verify: str | bool = True,
                 retry: RetryPolicy | None = None, mailbox_concurrency: int = 4,
                 timeout: float = 30.0) -> None:
        if not isinstance(endpoints, CloudEndpoints):
            raise ValueError("endpoints must be a CloudEndpoints (see endpoints_for)")
        if mailbox_concurrency < 1:
            raise ValueError("mailbox_concurrency must be at least 1")
        self.tenant_id = validate_tenant_ref(tenant_id)
        self.endpoints = endpoints
        self.base_url = f"{endpoints.graph_url}/v1.0"
        self._graph_host = host_key(endpoints.graph_url)
        self._core = HttpCore(self.tenant_id, endpoints.allowed_hosts(), auth, transport=transport,
                              verify=verify, retry=retry or RetryPolicy(), timeout=timeout,
                              mailbox_concurrency=mailbox_concurrency)

    def __repr__(self) -> str:
        return f"GraphClient(tenant_id={self.tenant_id!r}, cloud={self.endpoints.cloud.value!r})"

    # -- plumbing -------------------------------------------------------------------------------
    def url_for(self, path_or_url: str) -> str:
        """Absolute URL for a path relative to ``/v1.0``, or the URL itself (host checked on send)."""
        if not isinstance(path_or_url, str) or not path_or_url:
            raise ValueError("path must be a non-empty string")
        if "://" in path_or_url:
            return path_or_url
        return self.base_url + (path_or_url if path_or_url.startswith("/") else "/" + path_or_url)

    def request(self, method: str, path_or_url: str, *, params: dict[str, Any] | None = None,
                json: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """Send one request with retries; return the successful response."""
        return self._send(method, path_or_url, params=params, json=json, headers=headers)[0]

    def _send(self, method: str, path_or_url: str, *, params: dict[str, Any] | None = None, json: Any = None,
              headers: dict[str, str] | None = None, **kw: Any) -> tuple[httpx.Response, Any]:
        m = method.upper()
        if m not in _METHODS:
            raise ValueError(f"unsupported HTTP method {method!r}")
        return self._core.send(m, self.url_for(path_or_url), params=params, json=json, headers=headers, **kw)

    def get(self, path: str, *, params: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> dict[str, Any]:
        """GET a JSON object."""
        body = self._send("GET", path, params=params, headers=headers)[1]
        return body if isinstance(body, dict) else {}

    def post(self, path: str, json: Any = None, *,
             headers: dict[str, str] | None = None) -> dict[str, Any] | None:
        """POST; the JSON reply, or ``None`` for 202/204 without a body."""
        body = self._send("POST", path, json=json, headers=headers)[1]
        return body if isinstance(body, dict) else None

    def patch(self, path: str, json: Any) -> dict[str, Any] | None:
        """PATCH; the JSON reply or ``None``."""
        body = self._send("PATCH", path, json=json)[1]
        return body if isinstance(body, dict) else None

    def delete(self, path: str) -> None:
        """DELETE."""
        self._send("DELETE", path)

    # -- paging ---------------------------------------------------------------------------------
    def _pages(self, path_or_url: str, params: dict[str, Any] | None,
               headers: dict[str, str] | None) -> Iterator[dict[str, Any]]:
        """Pages (JSON objects) following ``@odata.nextLink`` on the Graph host; stops on a repeated link."""
        url: str | None = self.url_for(path_or_url)
        first = True
        seen: set[str] = set()
        while url is not None:
            if not first:
                self._core.check_url(url, {self._graph_host})
            body = self._send("GET", url, params=params if first else None, headers=headers)[1]
            first = False
            page = body if isinstance(body, dict) else {}
            yield page
            nxt = page.get("@odata.nextLink")
            if not nxt:
                return
            digest = hashlib.sha256(str(nxt).encode()).hexdigest()
            if digest in seen:
                log.warning("stopping paging of %s: the service repeated a nextLink", path_or_url[:200])
                return
            seen.add(digest)
            url = str(nxt)

    def iter_pages(self, path: str, *, params: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Lazily yield every item of a collection, page by page (headers re-sent on each page)."""
        for page in self._pages(path, params, headers):
            value = page.get("value")
            if isinstance(value, list):
                yield from value

    def iter_delta(self, path_or_delta_link: str, *, params: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> DeltaIterator:
        """Lazy delta items; read ``.delta_link`` after exhaustion. Raises ``DeltaExpired``."""
        if "://" in path_or_delta_link and params:
            raise ValueError("params cannot be combined with a delta link (it carries its own state)")
        return DeltaIterator(self._pages(path_or_delta_link, params, headers))

    def delta(self, path_or_delta_link: str, *, params: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> DeltaPage:
        """All items of a delta round and its ``@odata.deltaLink``. Raises ``DeltaExpired``."""
        it = self.iter_delta(path_or_delta_link, params=params, headers=headers)
        items = list(it)
        assert it.delta_link is not None
        return DeltaPage(items=items, delta_link=it.delta_link)

    # -- batch ----------------------------------------------------------------------------------
    def batch(self, requests: Sequence[BatchRequest]) -> list[BatchResponse]:
        """Run requests through ``/$batch`` (20 per call); items throttled with 429 are re-sent alone."""
        return run_batch(self, requests)

    def close(self) -> None:
        """Close the connection pool."""
        self._core.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
