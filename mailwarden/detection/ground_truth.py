"""Where a scan's ground truth comes from: a labelled list, a file, a URL, or a sandbox tenant.

Ground truth is an optional evaluation input, never something detection relies on. ``sandbox``
means the tenant is a sandbox tenant: its labels are read from the sandbox's control surface
(``GET /_sandbox/tenants/{tenant}/labels`` on the host the tenant's Graph calls go to), which
listens on loopback only, so a real tenant's Graph host is never asked.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from .evaluation import LabelledMessage, parse_labels, parse_labels_text

SANDBOX = "sandbox"


def is_loopback_url(url: str | None) -> bool:
    """Whether ``url`` names a loopback host (where a sandbox listens)."""
    host = urlsplit(url or "").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sandbox_labels(base_url: str, tenant_id: str, *, ca_file: str | None = None,
                   timeout: float = 120.0) -> list[LabelledMessage]:
    """The labelled messages of a sandbox tenant, from its control surface at ``base_url``."""
    if not is_loopback_url(base_url):
        raise ValueError("sandbox ground truth is read from a loopback sandbox only")
    url = f"{base_url.rstrip('/')}/_sandbox/tenants/{quote(tenant_id, safe='')}/labels"
    with httpx.Client(verify=ca_file or True, timeout=timeout, trust_env=False) as http:
        reply = http.get(url)
        reply.raise_for_status()
        return parse_labels(reply.json(), source="sandbox")


def load_ground_truth(ref: str | list[Any], *, tenant_id: str, graph_url: str | None = None,
                      ca_file: str | None = None) -> list[LabelledMessage]:
    """Labelled messages from ``ref``: a list of objects, ``"sandbox"``, an http(s) URL, or a file
    (JSON, JSON lines or CSV). Raises ``ValueError`` on a reference it cannot use."""
    if isinstance(ref, list):
        return parse_labels(ref)
    ref = ref.strip()
    if ref == SANDBOX:
        if not graph_url or not is_loopback_url(graph_url):
            raise ValueError("ground_truth='sandbox' needs a tenant whose Graph host is a loopback sandbox")
        return sandbox_labels(graph_url, tenant_id, ca_file=ca_file)
    if ref.startswith(("http://", "https://")):
        with httpx.Client(verify=ca_file or True, timeout=120.0) as http:
            reply = http.get(ref)
            reply.raise_for_status()
            return parse_labels_text(reply.text)
    path = Path(ref).expanduser()
    if not path.is_file():
        raise ValueError(f"ground truth {ref!r} is neither 'sandbox', a URL, nor a readable file")
    return parse_labels_text(path.read_text(encoding="utf-8"))
