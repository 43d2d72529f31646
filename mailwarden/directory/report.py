"""What an operator reads after a reconciliation: a summary, tables, CSV exports, alerts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mailwarden.directory.address_book import AddressBook


@dataclass(frozen=True)
class Reconciliation:
    """The figures of one run, for the summary, the artifacts and the alerts."""

    tenant: str
    tenant_id: str
    mode: str
    protected: int
    seats: int | None
    seats_source: str
    previous_protected: int | None
    diff: Mapping[str, int]
    conflicts: int
    counts: Mapping[str, Any]
    fallback_reason: str | None = None

    @property
    def change_pct(self) -> float | None:
        """Change of the protected count since the previous snapshot, in percent."""
        if self.previous_protected is None:
            return None
        if self.previous_protected == 0:
            return 0.0 if self.protected == 0 else 100.0
        return abs(self.protected - self.previous_protected) * 100.0 / self.previous_protected

    @property
    def over_seats(self) -> int:
        """How many protected mailboxes exceed the seats bought (0 when within, or unknown)."""
        return max(0, self.protected - self.seats) if self.seats is not None else 0


def alerts(r: Reconciliation, change_threshold_pct: float) -> list[str]:
    """Why an operator must be told: seats exceeded, count moved past the threshold."""
    out = []
    if r.over_seats:
        out.append(f"{r.protected} protected mailboxes exceed the {r.seats} seats bought by {r.over_seats}")
    pct = r.change_pct
    if pct is not None and pct > change_threshold_pct:
        out.append(f"the protected count changed by {pct:.1f}% ({r.previous_protected} -> {r.protected}), "
                   f"over the {change_threshold_pct:g}% threshold")
    return out


def summary_markdown(r: Reconciliation, alert_lines: Iterable[str], links: Mapping[str, str]) -> str:
    """The at-a-glance Markdown summary of a run."""
    seats = f"{r.seats} ({r.seats_source})" if r.seats is not None else "unknown"
    prev = "first snapshot" if r.previous_protected is None else str(r.previous_protected)
    lines = [
        f"# Licence reconciliation: {r.tenant}",
        "",
        f"**Protected mailboxes: {r.protected}** / seats: {seats} -- previous: {prev}",
        "",
        "| | |", "|---|---|",
        f"| tenant id | `{r.tenant_id}` |",
        f"| sync | {r.mode}{' (' + r.fallback_reason + ')' if r.fallback_reason else ''} |",
        f"| added | {r.diff.get('added', 0)} |",
        f"| removed | {r.diff.get('removed', 0)} |",
        f"| changed (mailboxes) | {r.diff.get('changed', 0)} |",
        f"| changed (groups) | {r.diff.get('groups_changed', 0)} |",
        f"| address conflicts | {r.conflicts} |",
    ]
    for reason, n in (r.counts.get("not_counted") or {}).items():
        lines.append(f"| not counted: {reason} | {n} |")
    alert_list = list(alert_lines)
    lines += ["", "## Alerts", ""] + ([f"- **{a}**" for a in alert_list] or ["- none"])
    if links:
        lines += ["", "## Exports", ""] + [f"- {name}: `{path}`" for name, path in links.items()]
    return "\n".join(lines) + "\n"


def diff_table(diffs: Iterable[Mapping[str, Any]], limit: int = 500) -> list[dict[str, Any]]:
    """Rows for a table artifact: change, object, kind, address, what changed."""
    rows = []
    for d in diffs:
        det = d.get("details") or {}
        what = ", ".join(det.get("changes") or [])
        extra = []
        for key in ("aliases_added", "aliases_removed", "members_added", "members_removed"):
            if det.get(key):
                extra.append(f"{key}: {', '.join(map(str, det[key]))[:200]}")
        rows.append({"change": d["change"], "object_id": d["object_id"], "kind": det.get("kind"),
                     "display_name": det.get("display_name"), "address": det.get("address"),
                     "what": "; ".join(filter(None, [what, *extra]))})
        if len(rows) >= limit:
            break
    return rows


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "tenant"


def write_exports(book: AddressBook, licences: pd.DataFrame, out_dir: Path, tenant: str,
                  stamp: str) -> dict[str, Path]:
    """CSV files of the address book, the licence list and the conflicts; their paths."""
    folder = Path(out_dir) / "reconciliation" / _safe(tenant)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "address_book": folder / f"address-book-{stamp}.csv",
        "licences": folder / f"licences-{stamp}.csv",
        "conflicts": folder / f"conflicts-{stamp}.csv",
    }
    book.to_csv_frame().to_csv(paths["address_book"], index=False)
    licences.to_csv(paths["licences"], index=False)
    conflicts = book.conflicts.assign(object_ids=book.conflicts["object_ids"].map(";".join))
    conflicts.to_csv(paths["conflicts"], index=False)
    return paths
