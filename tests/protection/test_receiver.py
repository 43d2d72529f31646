"""The receiver hands queued work on (``kick``) only after accepting, and debounces its events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from m365sandbox.samples import benign_message

from deployments.callback import create_app
from deployments.receiver import QUEUED_EVENT, PrefectKick
from mailwarden.store import utcnow
from mailwarden.store.repositories import save_subscription

from .conftest import NoRuns, Protected


def test_kick_follows_accepted_notifications_only(protected: Callable[..., Protected]) -> None:
    p = protected(n=1)
    kicked: list[set[str]] = []
    app = create_app(p.store, runs=NoRuns(), kick=kicked.append)
    sub = p.subscriptions()[0]
    mid = p.deliver(p.mailboxes[0], benign_message(p.address(p.mailboxes[0])))["id"]
    p.wait_sent(1)
    item = {"subscriptionId": sub.subscription_id, "changeType": "created", "tenantId": p.tenant_id,
            "resource": f"Users/{sub.mailbox_id}/Messages/{mid}", "resourceData": {"id": mid},
            "clientState": "wrong"}
    with TestClient(app) as client:
        assert client.post("/notifications", json={"value": [item]}).status_code == 403
        assert kicked == []
        # a notification for another mailbox than the subscription's is refused too
        other = {**item, "resource": f"Users/someone-else/Messages/{mid}"}
        assert client.post("/notifications", json={"value": [other]}).status_code == 403
        assert kicked == []
        # a subscription whose secret we know: accepted, queued, then handed on
        with p.store.session() as s:
            save_subscription(s, p.tenant_id, sub.mailbox_id, "known-subscription", resource=sub.resource,
                              client_state="known-secret", expires_at=utcnow() + timedelta(hours=1))
            s.commit()
        before = p.pending()
        good = {**item, "subscriptionId": "known-subscription", "clientState": "known-secret"}
        assert client.post("/notifications", json={"value": [good, item]}).status_code == 202
    assert kicked == [{p.tenant_id}]
    assert p.pending() == before + 1


def test_prefect_kick_emits_one_event_per_tenant_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    import prefect.events

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(prefect.events, "emit_event", lambda **kw: sent.append(kw))
    kick = PrefectKick(interval=3600)
    kick({"t1", "t2"})
    kick({"t1"})
    assert sorted(e["payload"]["tenant"] for e in sent) == ["t1", "t2"]
    assert {e["event"] for e in sent} == {QUEUED_EVENT}
    assert sent[0]["resource"]["prefect.resource.id"].startswith("mailwarden.tenant.")
