"""Where a scan's ground truth comes from (a labelled list, a file the operator put out, or the
sandbox), and judging a scan by it.

Ground truth is an optional evaluation input, never something detection relies on: detection
parses labels and computes the rates (:mod:`mailwarden.detection.evaluation`, no I/O); fetching
them is the scan's business, here. The reference
comes from a run's parameters, so it is untrusted: it may name only

- ``"sandbox"``: the labels of a sandbox tenant, read from the control surface
  (``GET /_sandbox/tenants/{tenant}/labels``) of the sandbox this server is configured with
  (``MAILWARDEN_SANDBOX_URL``, a loopback host, trusted with ``MAILWARDEN_SANDBOX_CA_FILE``);
- a list of label objects given inline;
- the name of a file (JSON, JSON lines or CSV) in the operator's ground-truth folder
  (``MAILWARDEN_GROUND_TRUTH_DIR``): relative to it, or absolute inside it; after resolving
  symlinks it must still be inside it. No ``..``, no URLs.

Anything else is refused (:class:`GroundTruthRefused`, a ``ValueError``) by :func:`check_ref`
before any file is opened or any host is asked, so a run cannot use the loader to probe internal
services or local files. A file or sandbox that cannot be read raises
:class:`GroundTruthUnreadable` with a fixed message; the detail (never the content) goes to this
module's logger on the server only.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import httpx
from pydantic import AfterValidator
from sqlalchemy.orm import Session

from mailwarden.detection.evaluation import (
    CompletedAction,
    LabelledMessage,
    ScannedVerdict,
    evaluate,
    parse_labels,
    parse_labels_text,
)
from mailwarden.hosts import is_loopback_url
from mailwarden.store.repositories import list_actions, list_findings

log = logging.getLogger(__name__)

SANDBOX = "sandbox"
MAX_FILE_BYTES = 64 * 1024 * 1024
"""A ground-truth file larger than this is not read."""
MAX_REF_CHARS = 1024
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
ACCEPTED = ("ground_truth must be 'sandbox', a list of labels, or the name of a file in the server's "
            "ground-truth folder (MAILWARDEN_GROUND_TRUTH_DIR)")
UNREADABLE_FILE = "could not read the ground truth file (see the server log)"
UNREADABLE_SANDBOX = "could not read the sandbox's ground truth (see the server log)"


class GroundTruthRefused(ValueError):
    """A ground-truth reference that may not be used (refused before any I/O)."""


class GroundTruthUnreadable(ValueError):
    """An accepted ground-truth source that could not be read; the message is fixed text."""


@dataclass(frozen=True)
class GroundTruthFile:
    """A checked reference to a file inside the ground-truth folder."""

    folder: Path
    path: Path


def _settings() -> Any:
    from mailwarden.settings import get_settings

    return get_settings()


def _inside(folder: Path | None, name: str) -> GroundTruthFile:
    if any(ord(c) < 32 or c == "\x7f" for c in name) or len(name) > MAX_REF_CHARS:
        raise GroundTruthRefused(f"{ACCEPTED}: the name has control characters or is too long")
    if _SCHEME.match(name) or "://" in name or name.startswith("\\\\"):
        raise GroundTruthRefused(f"{ACCEPTED}: URLs are not accepted")
    if ".." in PurePath(name).parts or ".." in name.replace("\\", "/").split("/"):
        raise GroundTruthRefused(f"{ACCEPTED}: '..' is not accepted in a file name")
    if folder is None:
        raise GroundTruthRefused(f"{ACCEPTED}: no ground-truth folder is configured on this server")
    base = Path(folder).expanduser().resolve()
    candidate = Path(name)
    resolved = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if resolved == base or not resolved.is_relative_to(base):
        raise GroundTruthRefused(f"{ACCEPTED}: the file is not inside the ground-truth folder")
    return GroundTruthFile(base, resolved)


def check_ref(ref: Any) -> str | list[Any] | GroundTruthFile:
    """The reference if it may be used, else :class:`GroundTruthRefused` (no file opened, no host asked).

    ``"sandbox"`` needs ``MAILWARDEN_SANDBOX_URL`` (https, loopback); a file name must resolve inside
    ``MAILWARDEN_GROUND_TRUTH_DIR``.
    """
    if isinstance(ref, list):
        return ref
    if not isinstance(ref, str) or not ref.strip():
        raise GroundTruthRefused(ACCEPTED)
    name = ref.strip()
    if name == SANDBOX:
        url = _settings().sandbox_url
        if not url:
            raise GroundTruthRefused("ground_truth='sandbox' needs a sandbox tenant server configured on this "
                                     "server (MAILWARDEN_SANDBOX_URL); this server has none")
        if not is_loopback_url(url) or urlsplit(url).scheme != "https":
            raise GroundTruthRefused("ground_truth='sandbox' is read from an https sandbox on loopback only")
        return SANDBOX
    return _inside(_settings().ground_truth_dir, name)


def validate_ref(ref: Any) -> Any:
    """``check_ref`` for a pydantic validator: the reference as given, or ``GroundTruthRefused``."""
    check_ref(ref)
    return ref


GroundTruthRef = Annotated[str | list[dict[str, Any]], AfterValidator(validate_ref)]
"""``"sandbox"``, a list of labels, or a file name in the ground-truth folder (checked on validation)."""


def sandbox_labels(base_url: str, tenant_id: str, *, ca_file: str | None = None,
                   timeout: float = 120.0) -> list[LabelledMessage]:
    """The labelled messages of a sandbox tenant, from its control surface at ``base_url``."""
    if not is_loopback_url(base_url):
        raise GroundTruthRefused("sandbox ground truth is read from a loopback sandbox only")
    url = f"{base_url.rstrip('/')}/_sandbox/tenants/{quote(tenant_id, safe='')}/labels"
    with httpx.Client(verify=ca_file or True, timeout=timeout, trust_env=False, follow_redirects=False) as http:
        reply = http.get(url)
        reply.raise_for_status()
        return parse_labels(reply.json(), source="sandbox")


def _detail(exc: BaseException) -> str:
    """What went wrong, for the server log, without quoting what the file holds."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or 'error'}"
    return f"{type(exc).__name__}: {_QUOTED.sub('<…>', str(exc))[:300]}"


def _read_file(ref: GroundTruthFile) -> str:
    """The text of a checked file, opened without following a symlink swapped in since the check."""
    again = _inside(ref.folder, str(ref.path))
    fd = os.open(again.path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError(0, "not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise OSError(0, f"larger than {MAX_FILE_BYTES} bytes")
        return f.read(MAX_FILE_BYTES + 1).decode("utf-8")


def load_ground_truth(ref: str | list[Any], *, tenant_id: str) -> list[LabelledMessage]:
    """Labelled messages from ``ref`` (see the module docstring for what it may be).

    Raises :class:`GroundTruthRefused` for a reference that may not be used (before any I/O),
    :class:`GroundTruthUnreadable` when an accepted source cannot be read or parsed, and
    ``ValueError`` for an inline list that is not labels.
    """
    checked = check_ref(ref)
    if isinstance(checked, list):
        return parse_labels(checked)
    if checked == SANDBOX:
        settings = _settings()
        ca_file = str(settings.sandbox_ca_file) if settings.sandbox_ca_file else None
        try:
            return sandbox_labels(str(settings.sandbox_url), tenant_id, ca_file=ca_file)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("sandbox ground truth for tenant %s not read: %s", tenant_id, _detail(exc))
            raise GroundTruthUnreadable(UNREADABLE_SANDBOX) from None
    assert isinstance(checked, GroundTruthFile)
    try:
        labels = parse_labels_text(_read_file(checked))
        if not labels:
            raise ValueError("no labelled messages in it")
        return labels
    except GroundTruthRefused:
        raise
    except (OSError, ValueError) as exc:
        log.warning("ground truth file %s not read: %s", checked.path.relative_to(checked.folder), _detail(exc))
        raise GroundTruthUnreadable(UNREADABLE_FILE) from None


_COMPLETED = ("done", "already_done")


def evaluate_scan(session: Session, *, tenant_id: str, scan_id: str, labels: list[LabelledMessage],
                  scanned: Iterable[str], since: datetime | None) -> dict[str, Any]:
    """Recall and false-positive rates of scan ``scan_id`` against ``labels``, over the ``scanned``
    mailboxes: its findings and the policy actions it completed, read back from the store."""
    verdicts = [ScannedVerdict(f.mailbox_id, f.category, f.internet_message_id, f.message_id)
                for f in list_findings(session, scan_id=scan_id, tenant_id=tenant_id)]
    actions = [CompletedAction(a.mailbox_id or "", a.target, a.action)
               for a in list_actions(session, tenant_id, state="done", target_kind="message")
               if a.result in _COMPLETED and (a.details or {}).get("scope") == scan_id]
    return evaluate(labels, verdicts, actions, mailboxes=list(scanned), since=since).to_json()
