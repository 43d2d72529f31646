"""JSON ``$batch``: at most 20 requests per call, per-item 429s re-sent after their own Retry-After."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mailwarden.graph._clouds import host_key
from mailwarden.graph._errors import GraphTransportError, HostNotAllowed
from mailwarden.graph._limits import mailbox_of
from mailwarden.graph._retry import parse_retry_after

if TYPE_CHECKING:
    from mailwarden.graph._client import GraphClient

__all__ = ["MAX_BATCH", "BatchRequest", "BatchResponse", "run_batch"]

log = logging.getLogger(__name__)

MAX_BATCH = 20
_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})


@dataclass
class BatchRequest:
    """One request inside a ``$batch``; ``url`` is relative to the version (``"/users/x/messages"``)."""

    id: str
    method: str
    url: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    depends_on: list[str] | None = None


@dataclass
class BatchResponse:
    """One item's reply: its own status, body and headers."""

    id: str
    status: int
    body: Any
    headers: dict[str, str]


def _relative(client: GraphClient, url: str) -> str:
    if "://" not in url:
        return url if url.startswith("/") else "/" + url
    if host_key(url) != host_key(client.endpoints.graph_url):
        raise HostNotAllowed(f"batch item URL is not on the Graph host: {url[:200]!r}")
    parts = urlsplit(url)
    path = parts.path
    for prefix in ("/v1.0", "/beta"):
        if path.startswith(prefix + "/"):
            path = path[len(prefix):]
            break
    return path + (f"?{parts.query}" if parts.query else "")


def _validate(requests: Sequence[BatchRequest]) -> None:
    ids: set[str] = set()
    for r in requests:
        if not isinstance(r, BatchRequest):
            raise ValueError("batch items must be BatchRequest")
        if not isinstance(r.id, str) or not r.id:
            raise ValueError("batch item ids must be non-empty strings")
        if r.id in ids:
            raise ValueError(f"duplicate batch item id {r.id!r}")
        if r.method.upper() not in _METHODS:
            raise ValueError(f"unsupported method {r.method!r} in batch item {r.id!r}")
        ids.add(r.id)
    for r in requests:
        for dep in r.depends_on or []:
            if dep not in ids or dep == r.id:
                raise ValueError(f"batch item {r.id!r} depends on unknown item {dep!r}")


def _chunks(requests: Sequence[BatchRequest]) -> list[list[BatchRequest]]:
    """Chunks of at most 20 in input order, keeping each ``dependsOn`` group in one chunk."""
    parent = {r.id: r.id for r in requests}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r in requests:
        for dep in r.depends_on or []:
            parent[find(r.id)] = find(dep)
    groups: dict[str, list[BatchRequest]] = {}
    for r in requests:
        groups.setdefault(find(r.id), []).append(r)
    chunks: list[list[BatchRequest]] = [[]]
    placed: set[str] = set()
    for r in requests:
        root = find(r.id)
        if root in placed:
            continue
        placed.add(root)
        group = groups[root]
        if len(group) > MAX_BATCH:
            raise ValueError(f"a dependsOn chain of {len(group)} items exceeds {MAX_BATCH} per batch")
        if len(chunks[-1]) + len(group) > MAX_BATCH:
            chunks.append([])
        chunks[-1].extend(group)
    return [c for c in chunks if c]


def _item_json(client: GraphClient, r: BatchRequest, sent: set[str]) -> dict[str, Any]:
    item: dict[str, Any] = {"id": r.id, "method": r.method.upper(), "url": _relative(client, r.url)}
    headers = dict(r.headers or {})
    if r.body is not None:
        item["body"] = r.body
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    if headers:
        item["headers"] = headers
    deps = [d for d in r.depends_on or [] if d in sent]
    if deps:
        item["dependsOn"] = deps
    return item


def _send_round(client: GraphClient, items: list[BatchRequest]) -> dict[str, BatchResponse]:
    ids = {r.id for r in items}
    payload = {"requests": [_item_json(client, r, ids) for r in items]}
    mailboxes = {m for r in items if (m := mailbox_of(r.url))}
    reads = all(r.method.upper() == "GET" for r in items)  # a batch of reads may be re-sent
    _, body = client._send("POST", "/$batch", json=payload, mailboxes=mailboxes, idempotent=reads)
    out: dict[str, BatchResponse] = {}
    for resp in (body or {}).get("responses") or []:
        if isinstance(resp, dict) and str(resp.get("id")) in ids:
            headers = {str(k): str(v) for k, v in (resp.get("headers") or {}).items()}
            out[str(resp["id"])] = BatchResponse(id=str(resp["id"]), status=int(resp.get("status") or 0),
                                                 body=resp.get("body"), headers=headers)
    missing = ids - out.keys()
    if missing:
        raise GraphTransportError(f"$batch reply lacks {len(missing)} of {len(ids)} item responses")
    return out


def _run_chunk(client: GraphClient, chunk: list[BatchRequest]) -> dict[str, BatchResponse]:
    policy = client._core.retry
    results: dict[str, BatchResponse] = {}
    pending = chunk
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        results.update(_send_round(client, pending))
        throttled = {r.id for r in pending if results[r.id].status == 429}
        if not throttled:
            return results
        # Items that failed only because a throttled dependency did (424) go again with it.
        again = set(throttled)
        for r in pending:
            if results[r.id].status == 424 and any(d in again for d in r.depends_on or []):
                again.add(r.id)
        hints = [parse_retry_after(results[i].headers) for i in throttled]
        known = [h for h in hints if h is not None]
        delay = max(known) if known else policy.backoff(attempt)
        if attempt >= policy.max_attempts or waited + delay > policy.max_total_wait:
            log.warning("$batch: %s items still throttled after %s rounds; returning their 429s",
                        len(throttled), attempt)
            return results
        log.info("$batch: re-sending %s throttled items in %.2fs", len(again), delay)
        policy.sleep(delay)
        waited += delay
        pending = [r for r in pending if r.id in again]


def run_batch(client: GraphClient, requests: Sequence[BatchRequest]) -> list[BatchResponse]:
    """Send ``requests`` via ``/$batch``; results in input order."""
    requests = list(requests)
    _validate(requests)
    for r in requests:
        _relative(client, r.url)  # foreign hosts refused before anything is sent
    results: dict[str, BatchResponse] = {}
    for chunk in _chunks(requests):
        results.update(_run_chunk(client, chunk))
    return [results[r.id] for r in requests]
