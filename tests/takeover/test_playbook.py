"""Playbook input checks and admin detection (no I/O beyond fakes)."""

from __future__ import annotations

from typing import Any

import pytest

from mailwarden.detection.rules import RuleContext
from mailwarden.graph import Forbidden, GraphStatusError, NotFound, Throttled
from mailwarden.takeover.playbook import (
    Playbook,
    evidence_rule_keys,
    incident_id,
    validate_evidence,
    validate_steps,
)


def test_steps_must_be_known_and_unique() -> None:
    assert validate_steps(["forwarding_off", "remove_rules"]) == ["forwarding_off", "remove_rules"]
    for bad in (["format_disk"], ["remove_rules", "remove_rules"], "remove_rules"):
        with pytest.raises(ValueError):
            validate_steps(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("evidence", ["text", ["a"], {"reasons": "x"}, {"rule_key": 3},
                                      {"first_seen": "yesterday"}, {"rule_keys": [1]}])
def test_malformed_evidence_is_a_value_error(evidence: Any) -> None:
    with pytest.raises(ValueError, match=r"evidence|timestamp"):
        validate_evidence(evidence)


def test_evidence_names_rules_and_one_incident_id() -> None:
    ev = validate_evidence({"rule_key": "graph:A", "rule_keys": ["exchange:1", "forwarding"], "risk": "high"})
    assert evidence_rule_keys(ev) == ["graph:A", "exchange:1"]
    assert incident_id(ev) == incident_id(dict(reversed(list(ev.items()))))
    assert incident_id({"incident": "INC-7"}) == "INC-7"


class RolesGraph:
    """``transitiveMemberOf`` answers: the given objects, or the given error."""

    def __init__(self, members: list[dict[str, Any]] | None, error: Exception | None = None) -> None:
        self.members = members
        self.error = error or NotFound(404, "Request_ResourceNotFound", "no such segment")

    def iter_pages(self, path: str, **_: Any) -> list[dict[str, Any]]:
        assert path.endswith("/transitiveMemberOf")
        if self.members is None:
            raise self.error
        return self.members


ROLE = {"@odata.type": "#microsoft.graph.directoryRole", "id": "r", "displayName": "Global Administrator"}
GROUP = {"@odata.type": "#microsoft.graph.group", "id": "g", "displayName": "Sales"}


def _pb(graph: Any, protected: frozenset[str] = frozenset()) -> Playbook:
    return Playbook("t", "u1", "Admin@Contoso.example", graph, None, None, {}, RuleContext(),
                    graph_admin=object(), protected_upns=protected)


def test_admin_is_whoever_holds_a_directory_role_directly_or_through_a_group() -> None:
    assert _pb(RolesGraph([GROUP, ROLE])).is_admin()[0] is True
    assert _pb(RolesGraph([GROUP])).is_admin()[0] is False


@pytest.mark.parametrize("error", [Throttled(429, "TooManyRequests", "slow down"),
                                   GraphStatusError(503, "serviceNotAvailable", "down"),
                                   Forbidden(403, "Authorization_RequestDenied", "no"),
                                   NotFound(404, "Request_ResourceNotFound", "gone"),
                                   RuntimeError("anything else")])
def test_unreadable_roles_mean_admin_status_unknown_and_identity_steps_are_skipped(error: Exception) -> None:
    pb = _pb(RolesGraph(None, error))
    admin, how = pb.is_admin()
    assert admin is None and "unknown" in how
    for step in ("disable_account", "reset_password"):
        result = getattr(pb, step)("approved")
        assert (result.result, "admin status unknown" in result.detail) == ("skipped", True)


def test_an_account_on_the_never_disable_list_is_never_disabled_or_reset() -> None:
    pb = _pb(RolesGraph([GROUP]), frozenset({"admin@contoso.example"}))
    for step in ("disable_account", "reset_password"):
        result = getattr(pb, step)("approved")
        assert result.result == "skipped" and "never_disable" in result.detail
