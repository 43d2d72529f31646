"""A local copy of the latest snapshot's directory and address book, to start a delta run fast.

Rebuilding the previous address book from the store (50,000 users' Graph JSON, 150,000
addresses, the nested memberships) costs more than the whole nightly delta should. After each
saved snapshot, :func:`write_cache` keeps its :class:`DirectoryState` and the book's frames in
one file per tenant; :func:`read_cache` returns them only when the file belongs to the very
snapshot the store calls latest (its id *and* time), else None -- the caller then loads from
the store, so a missing, stale or unreadable file only costs time, never correctness.

The file is ``marshal`` data (plain str/int/float/bool/None, lists and dicts): reading it runs no
code, unlike pickle, and a file of another Python version is simply refused. It is written to
a temporary name and renamed (never half-written), readable by its owner only.
"""

from __future__ import annotations

import logging
import marshal
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mailwarden.directory._gc import no_gc
from mailwarden.directory.address_book import AddressBook
from mailwarden.directory.state import DirectoryState

log = logging.getLogger(__name__)

FORMAT = 2
_TAG = (FORMAT, marshal.version, sys.version_info[:2])


def cache_path(folder: Path, tenant_id: str) -> Path:
    """The tenant's cache file under ``folder``."""
    safe = "".join(c for c in tenant_id if c.isalnum() or c in "-_")
    return Path(folder) / f"directory-{safe}.marshal"


def _column(col: pd.Series) -> list[Any]:
    """A column as plain Python values: marshal would write a numpy scalar as its raw bytes."""
    values = col.tolist()
    if col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) not in ("string", "empty"):
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
    return values


def _frame_out(df: pd.DataFrame, ids: pd.Index | None = None, coded: tuple[str, ...] = ()) -> dict[str, Any]:
    """Columns as lists; the ``coded`` ones (object ids) as int32 positions in ``ids`` when all are there."""
    data: list[Any] = []
    for c in df.columns:
        if ids is not None and c in coded:
            codes = ids.get_indexer(pd.Index(df[c].to_numpy(dtype=object)))
            if len(codes) == 0 or codes.min() >= 0:
                data.append({"codes": codes.astype("<i4").tobytes()})
                continue
        data.append(_column(df[c]))
    return {"columns": [str(c) for c in df.columns], "dtypes": [str(t) for t in df.dtypes], "data": data}


def _frame_in(raw: dict[str, Any], ids: np.ndarray | None = None) -> pd.DataFrame:
    cols = {}
    for name, values in zip(raw["columns"], raw["data"], strict=True):
        if isinstance(values, dict):
            if ids is None:
                raise ValueError("coded column without the object ids")
            values = ids.take(np.frombuffer(values["codes"], dtype="<i4"))
        cols[name] = values
    df = pd.DataFrame(cols, columns=raw["columns"])
    for col, dtype in zip(raw["columns"], raw["dtypes"], strict=True):
        if str(df[col].dtype) != dtype:
            df[col] = df[col].astype(dtype)
    return df


@no_gc()
def write_cache(folder: Path, snapshot: tuple[int, str], state: DirectoryState, book: AddressBook) -> Path:
    """Keep ``state`` and ``book`` as the cache of the committed snapshot ``(id, taken_at)``."""
    ids = pd.Index(book.objects["object_id"].to_numpy(dtype=object))
    payload: dict[str, Any] = {
        "tag": list(_TAG), "tenant_id": state.tenant_id, "snapshot": list(snapshot),
        "users": state.users, "groups": state.groups,
        "members": {g: list(m) for g, m in state.members.items()},
        "recipient_types": state.recipient_types, "domains": state.domains, "skus": state.skus,
        "book_domains": sorted(book.domains),
        "objects": _frame_out(book.objects.reset_index(drop=True)),
        "addresses": _frame_out(book.addresses, ids, ("object_id",)),
        "memberships": _frame_out(book.memberships, ids, ("group_id", "member_id")),
    }
    data = marshal.dumps(payload)
    path = cache_path(folder, state.tenant_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_cache(folder: Path, tenant_id: str,
               snapshot: tuple[int, str]) -> tuple[DirectoryState, AddressBook] | None:
    """The cached state and book of snapshot ``(id, taken_at)``, or None (missing, stale, unreadable)."""
    path = cache_path(folder, tenant_id)
    try:
        data = path.read_bytes()  # marshal.load() on a file object reads piecemeal: 7 times slower
        with no_gc():
            payload = marshal.loads(data)  # noqa: S302 - our own 0600 file; marshal runs no code
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError, TypeError) as exc:
        log.warning("directory cache %s unreadable (%s): loading from the store", path.name, exc)
        return None
    if (not isinstance(payload, dict) or payload.get("tag") != list(_TAG)
            or payload.get("tenant_id") != tenant_id or payload.get("snapshot") != list(snapshot)):
        return None
    try:
        with no_gc():
            state = DirectoryState(tenant_id, users=payload["users"], groups=payload["groups"],
                                   members=payload["members"], recipient_types=payload["recipient_types"],
                                   domains=payload["domains"], skus=payload["skus"])
            state.snapshot = snapshot
            objects = _frame_in(payload["objects"])
            ids = objects["object_id"].to_numpy(dtype=object)
            book = AddressBook.from_frames(tenant_id, objects.set_index("object_id", drop=False),
                                           _frame_in(payload["addresses"], ids),
                                           _frame_in(payload["memberships"], ids), payload["book_domains"])
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        log.warning("directory cache %s malformed (%s): loading from the store", path.name, exc)
        return None
    return state, book
