"""What crosses to a Dask cluster, captured as bytes, and a search of it for a tenant's secrets.

``captured_dask_traffic()`` records every message any ``distributed.Client`` of this process sends
to its scheduler (task graphs with each task's function, arguments and Prefect context), as the
frames distributed puts on the wire, before compression. The scheduler forwards those run specs to
the workers as they are, so these bytes are what a scheduler or worker gets to see.
``tenant_secrets(block)`` lists the secret values of a tenant block (app client secrets and
certificate private keys, EWS password, store URL) and ``assert_no_secret(traffic, secrets)``
fails, naming the secret (never printing its value), if any of them appears in those bytes.

Used by tests/security/test_dask.py and meant for the whole-system secrets suite.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

# A PEM body line is 64 base64 characters; one of them is enough to give the key away.
_PEM_LINE = re.compile(r"^[A-Za-z0-9+/=]{40,}$")


class DaskTraffic:
    """Messages sent to Dask schedulers while capturing: ``ops`` in order, ``blobs`` their wire bytes."""

    def __init__(self) -> None:
        self.ops: list[str] = []
        self.blobs: list[bytes] = []

    @property
    def graphs(self) -> int:
        """How many task graphs (``update-graph``) were sent."""
        return self.ops.count("update-graph")

    def data(self) -> bytes:
        return b"".join(self.blobs)

    def contains(self, value: str | bytes) -> bool:
        needle = value.encode() if isinstance(value, str) else value
        return needle in self.data()


def _wire_bytes(msg: Any) -> bytes:
    from distributed.protocol import dumps

    frames = dumps(msg, on_error="raise", context={"compression": None})
    return b"".join(bytes(f) for f in frames)


@contextlib.contextmanager
def captured_dask_traffic() -> Iterator[DaskTraffic]:
    """Record what every ``distributed.Client`` of this process sends to its scheduler meanwhile."""
    from distributed import Client

    traffic = DaskTraffic()
    original = Client._send_to_scheduler

    def spy(self: Any, msg: Any) -> Any:
        traffic.ops.append(str(msg.get("op")) if isinstance(msg, dict) else type(msg).__name__)
        traffic.blobs.append(_wire_bytes(msg))
        return original(self, msg)

    Client._send_to_scheduler = spy  # type: ignore[method-assign]
    try:
        yield traffic
    finally:
        Client._send_to_scheduler = original  # type: ignore[method-assign]


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return raw or None


def tenant_secrets(block: Any) -> dict[str, str]:
    """Name -> value of every secret a tenant block holds (client secrets, private keys, passwords)."""
    out: dict[str, str] = {}
    for label, app in (("app", block.app), ("advanced_app", getattr(block, "advanced_app", None))):
        if app is None:
            continue
        for field in ("client_secret", "certificate_private_key"):
            value = _secret(getattr(app, field, None))
            if value:
                out[f"{label}.{field}"] = value
    for field in ("ews_password", "store_url"):
        value = _secret(getattr(block, field, None))
        if value:
            out[field] = value
    return out


def _needles(value: str) -> list[bytes]:
    """The value itself, and for a PEM each of its base64 lines (a key split or re-wrapped still leaks)."""
    needles = [value.encode()]
    if "-----BEGIN" in value:
        needles += [line.strip().encode() for line in value.splitlines() if _PEM_LINE.match(line.strip())]
    return needles


def leaked(data: bytes, secrets: Mapping[str, str]) -> list[str]:
    """Names of the secrets whose value (or a line of a PEM) appears in ``data``."""
    return sorted(name for name, value in secrets.items() if any(n in data for n in _needles(value)))


def assert_no_secret(traffic: DaskTraffic | bytes, secrets: Mapping[str, str]) -> None:
    """Fail naming each secret found in the captured bytes (the values are never shown)."""
    assert secrets, "no secrets to look for: the check would prove nothing"
    data = traffic.data() if isinstance(traffic, DaskTraffic) else traffic
    found = leaked(data, secrets)
    assert not found, f"secrets sent to the Dask cluster: {found}"
