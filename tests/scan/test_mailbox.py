"""Scanning one mailbox: findings stored once, the policy's actions audited once, checkpoints, failures."""

from __future__ import annotations

from datetime import UTC, datetime

from mailwarden.detection import DetectionContext
from mailwarden.graph import NotFound
from mailwarden.scan import ALL_FOLDERS, MailboxScan, ScanPolicy, scan_mailbox
from mailwarden.store import Store
from mailwarden.store.repositories import get_checkpoint, list_actions, list_findings
from tests.scan._fakes import FakeMailbox, message

SINCE = datetime(2000, 1, 1, tzinfo=UTC)
CTX = DetectionContext(tenant_domains=frozenset({"contoso.com"}), internal_addresses=frozenset({"bob@contoso.com"}))
QUARANTINE = ScanPolicy(actions={"malicious": "quarantine"})


def _scan(box: FakeMailbox, store: Store, policy: ScanPolicy = QUARANTINE) -> MailboxScan:
    return scan_mailbox(box, store, tenant_id="t1", scan_id="historic:s1", since=SINCE, folders=None,  # type: ignore[arg-type]
                        policy=policy, context=CTX, flow_run_id="run-1", page_size=2)


def test_a_mailbox_scan_stores_what_is_not_clean_acts_on_it_and_checkpoints_the_count(store: Store) -> None:
    box = FakeMailbox("ann", [message(1), message(2, phishing=True), message(3), message(4, phishing=True),
                              message(5)])
    out = _scan(box, store)
    assert out.status == "done" and out.seen == 5 and not out.skipped and out.side == "cloud"
    assert out.categories == {"clean": 3, "malicious": 2}
    assert out.actions == {"quarantine:done": 2}
    assert sorted(box.acted) == [("m2", "quarantine"), ("m4", "quarantine")]
    with store.session() as s:
        findings = list_findings(s, scan_id="historic:s1")
        actions = list_actions(s, "t1", target_kind="message")
        cp = get_checkpoint(s, "t1", "historic:s1", "ann", ALL_FOLDERS)
    assert sorted(f.message_id for f in findings) == ["m2", "m4"] and {f.category for f in findings} == {"malicious"}
    assert all(a.details["scope"] == "historic:s1" and a.actor == "historic-scan" for a in actions)
    assert cp is not None and cp.state == "done" and cp.messages_seen == 5
    assert cp.last_received == datetime(2024, 1, 6, 10, tzinfo=UTC)


def test_a_mailbox_done_before_is_not_read_again_and_nothing_acts_twice(store: Store) -> None:
    box = FakeMailbox("ann", [message(1, phishing=True), message(2)])
    _scan(box, store)
    again = _scan(box, store)
    assert again.skipped and again.seen == 2 and box.reads == 1
    with store.session() as s:
        assert len(list_actions(s, "t1", target_kind="message")) == 1


def test_clean_verdicts_are_stored_only_when_the_policy_asks(store: Store) -> None:
    _scan(FakeMailbox("ann", [message(1), message(2)]), store, ScanPolicy(store_clean=True))
    with store.session() as s:
        assert {f.category for f in list_findings(s, scan_id="historic:s1")} == {"clean"}


def test_a_gone_mailbox_is_checkpointed_failed_with_the_reason_and_a_rerun_reads_it_again(store: Store) -> None:
    box = FakeMailbox("gone", [message(1), message(2, phishing=True), message(3)],
                      fail=NotFound(404, "ErrorItemNotFound", "mailbox not found"), fail_after=3)
    out = _scan(box, store)
    assert out.status == "failed" and "NotFound" in (out.error or "")
    assert out.seen == 2  # the whole pages read before the failure
    with store.session() as s:
        cp = get_checkpoint(s, "t1", "historic:s1", "gone", ALL_FOLDERS)
        assert cp is not None and cp.state == "failed" and "NotFound" in (cp.error or "")
        assert [f.message_id for f in list_findings(s, scan_id="historic:s1")] == ["m2"]  # its page was committed
    box.fail = None
    assert not _scan(box, store).skipped and box.reads == 2


def test_an_on_premises_mailbox_reports_its_side(store: Store) -> None:
    out = _scan(FakeMailbox("onprem", [message(1)], location="onprem"), store)
    assert out.side == "on-premises"
