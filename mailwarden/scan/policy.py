"""What a historic scan does with its verdicts, the window it reads, and the scan's id.

The scan's id (:func:`scan_id_for`, a string) names a scan by its scope: the same tenant, window,
folders and policy give the same id, so a re-run resumes. It is what the checkpoints and the
audit log's idempotency keys are scoped by, and what the findings are stored under.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from mailwarden.detection import Category

PolicyAction = Literal["report", "quarantine", "move_to_junk", "soft_delete", "hard_delete"]
CATEGORIES = tuple(c.value for c in Category)
ALL_FOLDERS = "*"
"""The checkpoint folder key of a scan of every visible folder."""
SCAN_ACTOR = "historic-scan"


class ScanPolicy(BaseModel):
    """What to do per verdict category; anything not listed is only reported (stored as a finding)."""

    actions: dict[str, PolicyAction] = Field(default_factory=dict)
    store_clean: bool = False
    """Also store ``clean`` verdicts as findings (off: only what is worth a look)."""

    @field_validator("actions")
    @classmethod
    def _known_categories(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown categories {sorted(unknown)}; known: {list(CATEGORIES)}")
        return value

    def action_for(self, category: str) -> PolicyAction:
        return self.actions.get(category, "report")


def scan_window(days: int | None, since: datetime | None, now: datetime | None = None) -> datetime:
    """The scan's start: ``since`` as given, else midnight UTC ``days`` ago (stable within a day)."""
    if since is not None:
        return since if since.tzinfo else since.replace(tzinfo=UTC)
    if days is None or days < 1:
        raise ValueError("days must be at least 1 (or give since)")
    today = (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def scan_id_for(tenant_id: str, since: datetime, folders: list[str] | None, policy: ScanPolicy) -> str:
    """The scan's id: same tenant, window, folders and policy -> same id (a re-run resumes)."""
    blob = json.dumps({"t": tenant_id, "since": since.isoformat(), "folders": sorted(folders or []),
                       "policy": policy.model_dump(mode="json")}, sort_keys=True)
    return "historic:" + hashlib.sha256(blob.encode()).hexdigest()[:32]


def folder_key(folders: list[str] | None) -> str:
    """The checkpoint folder key of a scan of ``folders`` (:data:`ALL_FOLDERS` for every folder)."""
    return ",".join(sorted(folders)) if folders else ALL_FOLDERS
