"""Process-wide per-mailbox concurrency limit (Outlook allows 4 concurrent requests per app per mailbox)."""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote, urlsplit

__all__ = ["mailbox_of", "mailbox_semaphore"]

# Outlook resources under a user: these count against the mailbox's concurrency limit.
_MAILBOX_PATH = re.compile(
    r"^/(?:v1\.0|beta)?/?users/([^/?#]+)/(?:messages|mailFolders|mailboxSettings|inferenceClassification"
    r"|calendar|calendars|calendarView|events|contacts|contactFolders|outlook|sendMail)(?:[/?(]|$)",
    re.IGNORECASE,
)

_SEMAPHORES: dict[tuple[str, str], threading.BoundedSemaphore] = {}
_LOCK = threading.Lock()


def mailbox_of(path_or_url: str) -> str | None:
    """The mailbox id (lower-cased) a Graph path or URL addresses, or ``None`` if not a mailbox resource."""
    path = urlsplit(path_or_url).path if "://" in path_or_url else path_or_url.split("?", 1)[0]
    m = _MAILBOX_PATH.match(path if path.startswith("/") else "/" + path)
    if not m:
        return None
    return unquote(m.group(1)).strip("'\"").lower()


def mailbox_semaphore(tenant_id: str, mailbox: str, limit: int) -> threading.BoundedSemaphore:
    """The shared semaphore for (tenant, mailbox); its size is fixed by the first caller's ``limit``."""
    key = (tenant_id.lower(), mailbox.lower())
    with _LOCK:
        sem = _SEMAPHORES.get(key)
        if sem is None:
            sem = _SEMAPHORES[key] = threading.BoundedSemaphore(max(1, limit))
        return sem
