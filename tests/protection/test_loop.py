"""The protect loop against the sandbox tenant: notifications -> receiver -> queue -> verdict ->
policy action, the delta fallback, forged notifications, floods, lifecycle events."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from m365sandbox.samples import benign_message, phishing_message
from sqlalchemy import func, select

from mailwarden.mailbox import QUARANTINE_FOLDER
from mailwarden.protection import drain_once
from mailwarden.store.models import ProcessedMessage, RemediationAction
from mailwarden.store.repositories import count_notifications

from .conftest import Protected, subscribe, wait_until


def _drain_all(p: Protected) -> list[Any]:
    """Drain the tenant's queue until it is empty; every outcome and lifecycle result."""
    out: list[Any] = []
    while True:
        got = drain_once(p.store, lambda t: p.protection if t == p.tenant_id else None, tenant_id=p.tenant_id)
        if not got.claimed:
            return out
        assert got.failed == 0 and got.retried == 0, got
        out.extend(got.outcomes)
        out.extend(got.lifecycle)


def _actions(p: Protected) -> list[Any]:
    with p.store.session() as s:
        return list(s.scalars(select(RemediationAction).where(RemediationAction.tenant_id == p.tenant_id)))


def _claims(p: Protected) -> Counter[str]:
    with p.store.session() as s:
        rows = s.execute(select(ProcessedMessage.message_key, func.count()).where(
            ProcessedMessage.tenant_id == p.tenant_id).group_by(ProcessedMessage.message_key))
        return Counter({k: n for k, n in rows})


def test_delivered_phishing_is_quarantined_and_benign_left_alone(protected: Callable[..., Protected]) -> None:
    p = protected(n=2)
    a, b = p.mailboxes
    phish = phishing_message(p.address(a), 1)
    fine = benign_message(p.address(b), 2)
    p.deliver(a, phish)
    p.deliver(b, fine)
    p.wait_sent(2)
    outcomes = {o.internet_message_id: o for o in _drain_all(p)}
    assert outcomes[phish["internetMessageId"]].status == "acted"
    assert outcomes[phish["internetMessageId"]].action == "quarantine"
    assert outcomes[fine["internetMessageId"]].status == "clean"
    assert p.folder_of(a, phish["internetMessageId"]) == QUARANTINE_FOLDER
    assert p.folder_of(b, fine["internetMessageId"]) == "Inbox"
    actions = _actions(p)
    assert [(x.action, x.result, x.actor) for x in actions] == [("quarantine", "done", "protection")]


def test_forged_notifications_are_refused_and_change_nothing(protected: Callable[..., Protected]) -> None:
    p = protected(n=1)
    mb = p.mailboxes[0]
    real = p.subscriptions()[0]
    mid = p.deliver(mb, phishing_message(p.address(mb), 3))["id"]
    p.wait_sent(1)
    before = p.queued()
    path = f"Users/{mb}/Messages/{mid}"
    base = {"subscriptionId": real.subscription_id, "changeType": "created", "resource": path,
            "resourceData": {"id": mid}, "tenantId": p.tenant_id,
            "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z"}
    forged = [
        {**base, "clientState": "guessed-secret"},
        {**base, "clientState": None},
        {**base, "subscriptionId": "7f0cf0a4-0000-4000-8000-000000000000", "clientState": "x"},
    ]
    with httpx.Client(trust_env=False) as c:
        for item in forged:
            r = c.post(p.receiver.url + "/notifications", json={"value": [item]})
            assert r.status_code == 403, r.text
        r = c.post(p.receiver.url + "/lifecycle", json={"value": [
            {**base, "clientState": "guessed-secret", "lifecycleEvent": "subscriptionRemoved"}]})
        assert r.status_code == 403
        r = c.post(p.receiver.url + "/notifications", content=b"not json")
        assert r.status_code == 400
    assert p.queued() == before
    assert _actions(p) == []
    assert p.subscriptions()[0].status == "active"


def test_validation_token_is_echoed_as_plain_text(receiver: Any) -> None:
    token = "Validation: Testing client application reachability <&>"
    with httpx.Client(trust_env=False) as c:
        r = c.post(receiver.url + "/notifications", params={"validationToken": token})
    assert r.status_code == 200 and r.text == token
    assert r.headers["content-type"].startswith("text/plain")


def test_a_flood_of_notifications_loses_none(protected: Callable[..., Protected]) -> None:
    p = protected(n=8)
    per_mailbox = 15

    def pour(mb: str) -> None:
        for i in range(per_mailbox):
            p.deliver(mb, benign_message(p.address(mb), i))

    threads = [threading.Thread(target=pour, args=(mb,)) for mb in p.mailboxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = per_mailbox * len(p.mailboxes)
    p.wait_sent(total)
    counters = p.counters()
    assert counters["delivered"] == total and counters.get("failed", 0) == 0
    assert p.queued() == total
    outcomes = _drain_all(p)
    assert len(outcomes) == total
    assert len(_claims(p)) == total
    with p.store.session() as s:
        assert count_notifications(s, p.tenant_id) == {"done": total}


def test_with_notifications_off_the_delta_sweep_catches_every_message(
        protected: Callable[..., Protected]) -> None:
    p = protected(n=3)
    p.hub.set_enabled(p.tenant_id, False)
    sent = []
    for i, mb in enumerate(p.mailboxes):
        for make in (phishing_message, benign_message):
            msg = make(p.address(mb), i)
            p.deliver(mb, msg)
            sent.append((mb, msg))
    assert p.counters()["suppressed"] == len(sent)
    assert p.queued() == 0
    results = [r for mb in p.mailboxes for r in p.protection.sweep(mb)]
    assert sum(r.processed for r in results) == len(sent)
    for mb, msg in sent:
        expected = QUARANTINE_FOLDER if "password" in msg["subject"] else "Inbox"
        assert p.folder_of(mb, msg["internetMessageId"]) == expected
    # a second sweep finds nothing new
    assert sum(r.processed for mb in p.mailboxes for r in p.protection.sweep(mb)) == 0


def test_with_both_paths_on_no_message_is_acted_on_twice(protected: Callable[..., Protected]) -> None:
    p = protected(n=3)
    sent = []
    for i in range(4):
        for mb in p.mailboxes:
            msg = phishing_message(p.address(mb), i)
            p.deliver(mb, msg)
            sent.append(msg)
    p.wait_sent(len(sent))
    errors: list[BaseException] = []

    def sweep_all() -> None:
        try:
            for mb in p.mailboxes:
                p.protection.sweep(mb)
        except BaseException as exc:
            errors.append(exc)

    sweeper = threading.Thread(target=sweep_all)
    sweeper.start()
    outcomes = _drain_all(p)
    sweeper.join()
    assert not errors
    claims = _claims(p)
    assert len(claims) == len(sent) and set(claims.values()) == {1}
    actions = _actions(p)
    assert len(actions) == len(sent)
    assert Counter(a.target for a in actions).most_common(1)[0][1] == 1
    assert all(p.folder_of(mb, m["internetMessageId"]) == QUARANTINE_FOLDER
               for mb, m in zip([mb for _ in range(4) for mb in p.mailboxes], sent, strict=True))
    # the notification path finds each message acted on already, or already moved by the sweep
    assert {o.status for o in outcomes} <= {"acted", "duplicate", "gone"}


def test_subscriptions_are_renewed_before_expiry_and_recreated_after_removal(
        protected: Callable[..., Protected]) -> None:
    from datetime import UTC, datetime, timedelta

    from mailwarden.protection import plan_subscriptions, sync_subscriptions

    p = protected(n=2)
    first = {s.mailbox_id: s for s in p.subscriptions()}
    # renewal: anything expiring within 4 days is renewed (the default lifetime is 3 days)
    with p.store.session() as s:
        records = p.subscriptions()
        plan = plan_subscriptions(p.mailboxes, records, now=datetime.now(UTC), renew_before=timedelta(days=4))
        assert sorted(plan.renew) == sorted(r.subscription_id for r in records) and not plan.create
        later = datetime.now(UTC) + timedelta(days=4)
        done = sync_subscriptions(p.protection.client, s, tenant_id=p.tenant_id, plan=plan, records=records,
                                  notification_url="unused", lifecycle_url=None, now=datetime.now(UTC),
                                  lifetime=timedelta(days=4))
    assert len(done.renewed) == 2
    live = {x.id: x for x in p.hub.list(p.tenant_id, p.block.app.client_id)}
    for rec in p.subscriptions():
        assert abs(live[rec.subscription_id].expires - later.timestamp()) < 120
    # removal: Graph removes one, tells the lifecycle URL; processing subscribes the mailbox again
    gone = first[p.mailboxes[0]].subscription_id
    p.hub.lifecycle(p.tenant_id, gone, "subscriptionRemoved")
    assert wait_until(lambda: p.pending() == 1)
    results = _drain_all(p)
    assert results and results[0]["removed"] == gone and results[0]["recreated"]
    new = results[0]["recreated"]
    assert new in live or new in {x.id for x in p.hub.list(p.tenant_id, p.block.app.client_id)}
    by_id = {s.subscription_id: s for s in p.subscriptions()}
    assert by_id[gone].status == "removed" and by_id[new].status == "active"
    # the next sync forgets the removed record and keeps the new one
    assert subscribe(p, p.mailboxes).summary()["created"] == 0
    assert {s.subscription_id for s in p.subscriptions()} == {new, first[p.mailboxes[1]].subscription_id}
    # and the recreated subscription notifies
    msg = phishing_message(p.address(p.mailboxes[0]), 9)
    p.deliver(p.mailboxes[0], msg)
    assert wait_until(lambda: p.pending() == 1)
    assert [o.status for o in _drain_all(p) if hasattr(o, "status")] == ["acted"]


def test_a_missed_lifecycle_event_triggers_a_delta_sweep(protected: Callable[..., Protected]) -> None:
    p = protected(n=1)
    mb = p.mailboxes[0]
    p.hub.set_enabled(p.tenant_id, False)  # Graph lost the change notification
    msg = phishing_message(p.address(mb), 4)
    p.deliver(mb, msg)
    assert p.queued() == 0
    p.hub.lifecycle(p.tenant_id, p.subscriptions()[0].subscription_id, "missed")
    assert wait_until(lambda: p.pending() == 1)
    results = _drain_all(p)
    assert results == [{"tenant_id": p.tenant_id, "mailbox_id": mb, "event": "missed", "swept": 1}]
    assert p.folder_of(mb, msg["internetMessageId"]) == QUARANTINE_FOLDER


def test_notify_and_report_only_policies_leave_the_message_where_it_is(
        protected: Callable[..., Protected]) -> None:
    from mailwarden.protection import ProtectionPolicy

    p = protected(n=2, policy=ProtectionPolicy({"malicious": "notify"}))
    a, b = p.mailboxes
    notified = phishing_message(p.address(a), 7)
    p.deliver(a, notified)
    p.wait_sent(1)
    outcome = {o.internet_message_id: o for o in _drain_all(p)}[notified["internetMessageId"]]
    assert (outcome.status, outcome.action, outcome.result) == ("acted", "notify", "done")
    assert p.folder_of(a, notified["internetMessageId"]) == "Inbox"
    notices = p.state.mailboxes[a].sent_log
    assert len(notices) == 1 and "looks dangerous" in notices[0]["message"]["subject"]
    assert [(x.action, x.result) for x in _actions(p)] == [("notify", "done")]
    p.protection.policy = ProtectionPolicy({"malicious": "report"})
    reported = phishing_message(p.address(b), 8)
    p.deliver(b, reported)
    p.wait_sent(3)  # the notice itself arrived in mailbox a and was notified too
    outcomes = {o.internet_message_id: o for o in _drain_all(p)}
    outcome = outcomes[reported["internetMessageId"]]
    assert (outcome.status, outcome.category) == ("reported", "malicious")
    assert p.folder_of(b, reported["internetMessageId"]) == "Inbox"
    assert len(_actions(p)) == 1
