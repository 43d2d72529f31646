"""A run may narrow the tenant's policy, never widen it; the defaults are the safe side."""

from __future__ import annotations

import pytest

from mailwarden.policy import PolicyViolation, TenantPolicy
from mailwarden.policy.approval import Approval

STEPS = ["remove_rules", "forwarding_off", "revoke_sessions", "reset_password", "disable_account",
         "review_sent_items"]


def test_defaults_gate_every_step_that_locks_a_person_out_and_every_threat_action() -> None:
    p = TenantPolicy("t")
    auto = p.narrow_takeover(STEPS, None, {"review_sent_items"})
    assert "reset_password" not in auto and "disable_account" not in auto and "remove_rules" in auto
    assert p.unattended_threat_action("quarantine", 1) is not None
    assert p.unattended_threat_action("hard_delete", 1) is not None


def test_a_run_may_ask_for_fewer_unattended_steps_but_not_more() -> None:
    p = TenantPolicy("t")
    assert p.narrow_takeover(STEPS, ["remove_rules"], {"review_sent_items"}) == {"remove_rules", "review_sent_items"}
    assert p.narrow_takeover(STEPS, [], ()) == frozenset()
    with pytest.raises(PolicyViolation, match="reset_password"):
        p.narrow_takeover(STEPS, ["remove_rules", "reset_password"], ())


def test_threat_actions_run_unattended_only_when_listed_and_under_the_cap() -> None:
    p = TenantPolicy("t", threat_unattended_actions=frozenset({"quarantine"}), threat_max_unattended_copies=5)
    assert p.unattended_threat_action("quarantine", 5) is None
    assert "more than the 5" in (p.unattended_threat_action("quarantine", 6) or "")
    assert "requires approval" in (p.unattended_threat_action("hard_delete", 1) or "")


def test_protection_actions_may_only_get_weaker() -> None:
    p = TenantPolicy("t")
    assert p.narrow_actions(None) == {"malicious": "quarantine", "suspicious": "move_to_junk"}
    assert p.narrow_actions({"malicious": "report"}) == {"malicious": "report"}
    for stronger in ({"suspicious": "quarantine"}, {"spam": "move_to_junk"}, {"malicious": "hard_delete"}):
        with pytest.raises(PolicyViolation):
            p.narrow_actions(stronger)


def test_scans_go_no_further_than_the_policy_says() -> None:
    TenantPolicy("t").check_scan_actions({"malicious": "quarantine", "spam": "move_to_junk"})
    with pytest.raises(PolicyViolation, match="hard_delete"):
        TenantPolicy("t").check_scan_actions({"malicious": "hard_delete"})
    TenantPolicy("t", scan_max_action="hard_delete").check_scan_actions({"malicious": "hard_delete"})


def test_timeouts_are_capped_and_unknown_names_refused() -> None:
    p = TenantPolicy("t", max_approval_timeout_seconds=600)
    assert (p.narrow_timeout(None), p.narrow_timeout(60), p.narrow_timeout(10**6)) == (600, 60, 600)
    with pytest.raises(ValueError):
        p.narrow_timeout(0)
    with pytest.raises(ValueError):
        TenantPolicy("t", takeover_unattended=frozenset({"format_disk"}))


def test_never_disable_matches_ids_and_upns_case_insensitively() -> None:
    p = TenantPolicy("t", never_disable=frozenset({"breakglass@contoso.example"}))
    assert p.protects("u1", "BreakGlass@Contoso.example") and not p.protects("u2", "ann@contoso.example")


def test_a_typed_name_is_recorded_as_claimed_not_as_the_approver() -> None:
    who = Approval.from_resume(True, claimed_by="  soc-lead  ")
    assert who.audit_text() == "approved via prefect-api (actor unverified; claimed by 'soc-lead')"
    assert Approval.unattended().audit_text().startswith("unattended")
