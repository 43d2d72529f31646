"""Acting on every copy once (audited), what the policy lets run unattended, and undoing a run."""

from __future__ import annotations

from typing import Any

import pytest

from mailwarden.mailbox import MessageQuery
from mailwarden.policy import PolicyViolation, TenantPolicy
from mailwarden.response import act_on_copies, check_unattended, counts, restore_actions, search_mailbox, why_ask
from mailwarden.store import Store
from mailwarden.store.repositories import list_actions
from tests.scan._fakes import FakeMailbox, message

POLICY = TenantPolicy(tenant_id="t1", threat_unattended_actions=frozenset({"quarantine"}),
                      threat_max_unattended_copies=2)


def _act(box: FakeMailbox, store: Store, run: str = "run-1") -> list[Any]:
    copies = search_mailbox(box, MessageQuery(link="micros0ft-login")).copies
    with store.session() as s:
        return act_on_copies(box, s, tenant_id="t1", copies=copies, action="quarantine", actor="threat-response",
                             reason="unit", approval="unattended", flow_run_id=run, scope="threat:x")


def test_every_copy_is_acted_on_once_per_scope(store: Store) -> None:
    box = FakeMailbox("ann", [message(1, phishing=True), message(2), message(3, phishing=True)])
    first = _act(box, store)
    assert [(r.message_id, r.result, r.new_message_id) for r in first] == [("m1", "done", "new-m1"),
                                                                          ("m3", "done", "new-m3")]
    again = _act(box, store, run="run-2")
    assert counts(again) == {"already_done": 2} and len(box.acted) == 2
    with store.session() as s:
        assert len(list_actions(s, "t1", target_kind="message")) == 2


def test_an_unusable_on_premises_server_fails_that_copy_with_the_reason(store: Store) -> None:
    box = FakeMailbox("ann", [message(1, phishing=True)], location="onprem", unreachable=True)
    (result,) = _act(box, store)
    assert result.result == "failed" and "refused the credentials" in result.detail and result.side == "on-premises"


def test_auto_is_refused_for_an_action_the_policy_always_asks_about_and_many_copies_are_asked() -> None:
    with pytest.raises(PolicyViolation, match="requires approval for hard_delete"):
        check_unattended(POLICY, "hard_delete", "auto")
    check_unattended(POLICY, "hard_delete", "ask")  # asking is always allowed
    assert why_ask(POLICY, "quarantine", 2, "auto") is None
    assert "more than the 2" in (why_ask(POLICY, "quarantine", 3, "auto") or "")
    assert why_ask(POLICY, "quarantine", 1, "ask") == "approval asked"


class _Restoring(FakeMailbox):
    def __init__(self, mailbox_id: str) -> None:
        super().__init__(mailbox_id, [message(1, phishing=True), message(3, phishing=True)])
        self.restored: list[int] = []

    def restore(self, session: Any, *, action_record: Any, actor: str, reason: str, flow_run_id: str | None) -> Any:
        from mailwarden.mailbox import restore_action

        self.restored.append(action_record.id)
        return restore_action(None, session, action_record=action_record, actor=actor, reason=reason,  # type: ignore[arg-type]
                              flow_run_id=flow_run_id, move=lambda mid, folder: f"back-{mid}",
                              locate=lambda imid, folder: None)


def test_restore_undoes_a_runs_actions_once_and_only_those_asked_for(store: Store) -> None:
    box = _Restoring("ann")
    _act(box, store)
    with store.session() as s:
        done = restore_actions(s, lambda mb: box, tenant_id="t1", of_flow_run="run-1", action_ids=None,
                                       actor="restore", reason="unit", flow_run_id="run-undo")
        twice = restore_actions(s, lambda mb: box, tenant_id="t1", of_flow_run="run-1", action_ids=None,
                                actor="restore", reason="unit", flow_run_id="run-undo-2")
        none = restore_actions(s, lambda mb: box, tenant_id="t1", of_flow_run="other-run", action_ids=None,
                               actor="restore", reason="unit", flow_run_id=None)
        one = restore_actions(s, lambda mb: box, tenant_id="t1", of_flow_run=None, action_ids=[done[0].action_id],
                              actor="restore", reason="unit", flow_run_id=None)
    assert counts(done) == {"done": 2} and {r.action for r in done} == {"quarantine"}
    assert all(r.new_message_id and r.new_message_id.startswith("back-new-") for r in done)
    assert counts(twice) == {"already_done": 2} and none == [] and [r.action_id for r in one] == [done[0].action_id]
