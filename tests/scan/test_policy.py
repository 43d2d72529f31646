"""The scan's policy, window and id: what makes a re-run the same scan."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from mailwarden.scan import ALL_FOLDERS, ScanPolicy, folder_key, scan_id_for, scan_window

T0 = datetime(2024, 3, 1, 15, 30, tzinfo=UTC)


def test_the_scan_id_is_the_same_for_the_same_scope_and_differs_with_any_part_of_it() -> None:
    base = scan_id_for("t1", T0, ["inbox", "junk"], ScanPolicy())
    assert base.startswith("historic:") and len(base) == len("historic:") + 32
    assert scan_id_for("t1", T0, ["junk", "inbox"], ScanPolicy()) == base  # folder order does not matter
    assert scan_id_for("t1", T0, None, ScanPolicy()) != base
    assert scan_id_for("t2", T0, ["inbox", "junk"], ScanPolicy()) != base
    assert scan_id_for("t1", T0, ["inbox", "junk"], ScanPolicy(actions={"malicious": "quarantine"})) != base


def test_the_window_starts_at_midnight_utc_days_ago_or_at_since() -> None:
    assert scan_window(3, None, now=T0) == datetime(2024, 2, 27, tzinfo=UTC)
    assert scan_window(3, None, now=T0.replace(hour=23)) == scan_window(3, None, now=T0)  # stable within a day
    naive = datetime(2023, 1, 1, 8)
    assert scan_window(30, naive) == naive.replace(tzinfo=UTC)
    with pytest.raises(ValueError, match="days must be at least 1"):
        scan_window(0, None)


def test_a_policy_names_known_categories_and_reports_the_rest() -> None:
    policy = ScanPolicy(actions={"malicious": "quarantine"})
    assert policy.action_for("malicious") == "quarantine" and policy.action_for("spam") == "report"
    with pytest.raises(ValidationError, match="unknown categories"):
        ScanPolicy(actions={"evil": "quarantine"})
    assert folder_key(None) == ALL_FOLDERS and folder_key(["junk", "inbox"]) == "inbox,junk"
