"""Alerts and the operator's summary."""

from __future__ import annotations

from mailwarden.directory import Reconciliation, alerts, summary_markdown


def _rec(protected: int, seats: int | None, previous: int | None) -> Reconciliation:
    return Reconciliation(tenant="contoso.com", tenant_id="t", mode="delta", protected=protected, seats=seats,
                          seats_source="parameter", previous_protected=previous,
                          diff={"added": 2, "removed": 1, "changed": 3, "groups_changed": 0}, conflicts=1,
                          counts={"not_counted": {"disabled": 4}})


def test_alerts_fire_on_seats_exceeded_and_on_change_past_the_threshold() -> None:
    assert alerts(_rec(100, 100, 100), 5.0) == []
    assert any("exceed the 99 seats bought by 1" in a for a in alerts(_rec(100, 99, 100), 5.0))
    assert any("changed by 10.0%" in a for a in alerts(_rec(110, None, 100), 5.0))
    assert alerts(_rec(104, None, 100), 5.0) == []
    assert alerts(_rec(500, None, None), 5.0) == []  # first snapshot: nothing to compare


def test_summary_shows_counts_seats_changes_conflicts_and_alerts() -> None:
    text = summary_markdown(_rec(100, 99, 90), ["over seats"], {"licences": "/data/l.csv"})
    for piece in ("contoso.com", "**Protected mailboxes: 100**", "99 (parameter)", "| added | 2 |",
                  "| address conflicts | 1 |", "not counted: disabled | 4", "- **over seats**",
                  "/data/l.csv"):
        assert piece in text
