"""Throttling as Microsoft documents it, with the numbers in a :class:`Profile`.

* Outlook resources (``/users/{id}/messages|mailFolders|...``): per app per mailbox, a request
  rate (10,000 per 10 minutes) and a concurrency limit (4). Usage counts while throttled.
* Directory (users, groups ...): a token bucket of resource units per app per tenant, sized by
  the tenant's user count (3,500 / 5,000 / 8,000 per 10 s); each request costs units.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

BIG = 10**9


@dataclass(frozen=True)
class Profile:
    """Limits and latency of one sandbox run."""

    name: str
    mailbox_requests: int = 10_000
    mailbox_window: float = 600.0
    mailbox_concurrency: int = 4
    concurrency_scope: str = "app_mailbox"
    """``app_mailbox`` (per app per mailbox) or ``app`` (per app per tenant, as some texts say)."""
    directory_units: tuple[int, int, int] = (3500, 5000, 8000)
    """Units per window for tenants with <50, 50-500, >500 users."""
    directory_window: float = 10.0
    latency: float = 0.0
    """Fixed seconds added to every Graph/Exchange reply."""
    concurrency_retry_after: int = 1

    def with_(self, **changes: Any) -> Profile:
        """A copy with some settings changed."""
        return replace(self, **changes)


PROFILES: dict[str, Profile] = {
    "realistic": Profile("realistic"),
    "fast": Profile("fast", mailbox_requests=BIG, mailbox_concurrency=BIG, directory_units=(BIG, BIG, BIG)),
    "latency": Profile("latency", latency=0.02, mailbox_requests=BIG, directory_units=(BIG, BIG, BIG)),
}


def directory_cost(method: str, path: str, has_select: bool) -> int:
    """Resource units of a directory request (Microsoft's published costs)."""
    parts = [p for p in path.split("/") if p]
    if method != "GET":
        cost = 3
    elif parts[-1] == "transitiveMembers":
        cost = 5
    elif parts[-1] == "members":
        cost = 3
    elif parts[0] in ("users", "groups") and len(parts) == 1:
        cost = 2
    else:
        cost = 1
    return max(1, cost - 1) if has_select and method == "GET" else cost


class Throttler:
    """Counters for every limit; thread-safe; the clock is injectable."""

    def __init__(self, profile: Profile, clock: Callable[[], float]) -> None:
        self.profile = profile
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str, str], deque[float]] = {}
        self._slots: dict[tuple[str, ...], int] = {}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self._slots.clear()
            self._buckets.clear()

    def mailbox_request(self, app: str, tenant: str, mailbox: str) -> int | None:
        """Count one request; the Retry-After seconds if over the rate limit, else None."""
        p = self.profile
        now = self.clock()
        with self._lock:
            q = self._windows.setdefault((app, tenant, mailbox), deque())
            while q and q[0] <= now - p.mailbox_window:
                q.popleft()
            q.append(now)  # usage counts while throttled
            if len(q) > p.mailbox_requests:
                return max(1, math.ceil(q[-p.mailbox_requests - 1] + p.mailbox_window - now))
        return None

    def _slot_key(self, app: str, tenant: str, mailbox: str) -> tuple[str, ...]:
        return (app, tenant) if self.profile.concurrency_scope == "app" else (app, tenant, mailbox)

    def acquire(self, app: str, tenant: str, mailbox: str) -> bool:
        """Take a concurrency slot; False when all are in use."""
        key = self._slot_key(app, tenant, mailbox)
        with self._lock:
            if self._slots.get(key, 0) >= self.profile.mailbox_concurrency:
                return False
            self._slots[key] = self._slots.get(key, 0) + 1
            return True

    def release(self, app: str, tenant: str, mailbox: str) -> None:
        key = self._slot_key(app, tenant, mailbox)
        with self._lock:
            self._slots[key] = max(0, self._slots.get(key, 0) - 1)

    def directory_request(self, app: str, tenant: str, user_count: int, cost: int) -> int | None:
        """Spend ``cost`` units; the Retry-After seconds if the bucket is empty, else None."""
        p = self.profile
        units = p.directory_units[0 if user_count < 50 else 1 if user_count <= 500 else 2]
        rate = units / p.directory_window
        now = self.clock()
        with self._lock:
            level, last = self._buckets.get((app, tenant), (float(units), now))
            level = min(float(units), level + (now - last) * rate)
            throttled = level < cost
            level -= cost  # usage counts while throttled
            self._buckets[(app, tenant)] = (level, now)
            if throttled:
                return max(1, math.ceil(-level / rate))
        return None
