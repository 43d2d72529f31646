"""Playbook input checks and admin detection (no I/O beyond fakes)."""

from __future__ import annotations

from typing import Any

import pytest

from mailwarden.detection.rules import RuleContext
from mailwarden.graph import NotFound
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
    def __init__(self, roles: list[dict[str, Any]] | None) -> None:
        self.roles = roles

    def iter_pages(self, path: str, **_: Any) -> list[dict[str, Any]]:
        assert path.endswith("/memberOf/microsoft.graph.directoryRole")
        if self.roles is None:
            raise NotFound(404, "Request_ResourceNotFound", "no such segment")
        return self.roles


def _pb(graph: Any, protected: frozenset[str] = frozenset()) -> Playbook:
    return Playbook("t", "u1", "Admin@Contoso.example", graph, None, None, {}, RuleContext(),
                    protected_upns=protected)


def test_admin_is_a_directory_role_holder_else_a_protected_upn() -> None:
    assert _pb(RolesGraph([{"id": "r", "displayName": "Global Administrator"}])).is_admin()[0]
    assert not _pb(RolesGraph([])).is_admin()[0]
    admin, how = _pb(RolesGraph(None), frozenset({"admin@contoso.example"})).is_admin()
    assert admin and "protected" in how
    assert not _pb(RolesGraph(None)).is_admin()[0]
