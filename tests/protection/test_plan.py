"""Subscription planning follows the directory: create, renew in time, delete, forget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from mailwarden.protection import DEFAULT_RENEW_BEFORE, ProtectionPolicy, plan_subscriptions

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@dataclass
class Rec:
    mailbox_id: str
    subscription_id: str
    status: str = "active"
    expires_at: datetime = NOW + timedelta(days=2)


def test_new_mailboxes_are_subscribed_and_removed_ones_unsubscribed() -> None:
    plan = plan_subscriptions(["a", "b"], [Rec("b", "sb"), Rec("gone", "sg")], now=NOW)
    assert plan.create == ["a"] and plan.delete == ["sg"] and plan.keep == ["sb"] and not plan.renew


def test_subscriptions_close_to_expiry_are_renewed() -> None:
    soon = Rec("a", "sa", expires_at=NOW + DEFAULT_RENEW_BEFORE - timedelta(minutes=1))
    plan = plan_subscriptions(["a"], [soon], now=NOW)
    assert plan.renew == ["sa"] and not plan.create


def test_removed_or_expired_records_are_forgotten_and_the_mailbox_subscribed_again() -> None:
    plan = plan_subscriptions(["a", "b"], [Rec("a", "sa", status="removed"),
                                           Rec("b", "sb", expires_at=NOW - timedelta(seconds=1))], now=NOW)
    assert sorted(plan.forget) == ["sa", "sb"] and plan.create == ["a", "b"]


def test_duplicate_subscriptions_keep_the_longest_lived_one() -> None:
    plan = plan_subscriptions(["A"], [Rec("a", "s1"), Rec("a", "s2", expires_at=NOW + timedelta(days=3))], now=NOW)
    assert plan.keep == ["s2"] and plan.delete == ["s1"] and not plan.create


def test_an_up_to_date_set_plans_nothing() -> None:
    assert plan_subscriptions(["a"], [Rec("a", "sa")], now=NOW).is_empty()


def test_policy_rejects_unknown_actions_and_categories() -> None:
    with pytest.raises(ValueError):
        ProtectionPolicy({"malicious": "explode"})
    with pytest.raises(ValueError):
        ProtectionPolicy({"scary": "quarantine"})
    assert ProtectionPolicy().action_for("clean") == "report"
