"""Faults on demand: deterministic counts, per tenant/mailbox, over real TLS connections."""

from __future__ import annotations

import json

import httpx
import pytest

from m365sandbox import Sandbox, SandboxServer
from tests.conftest import TENANT_A, TENANT_B, get_token

ALICE = "aaaaaaaa-u001-4000-8000-000000000000"
BOB = "aaaaaaaa-u002-4000-8000-000000000000"


def test_429_storm_for_next_n_requests_then_recovers(graph: httpx.Client, sb: Sandbox) -> None:
    sb.faults.inject("429", tenant=TENANT_A, count=2, retry_after=7)
    first = graph.get("/users")
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    assert first.json()["error"]["code"] == "TooManyRequests"
    assert graph.get("/users").status_code == 429
    assert graph.get("/users").status_code == 200


def test_fault_for_one_mailbox_leaves_others_alone(graph: httpx.Client, sb: Sandbox) -> None:
    sb.faults.inject("503", tenant=TENANT_A, mailbox="alice@contoso.example", count=1)
    assert graph.get(f"/users/{BOB}/messages").status_code != 503
    assert graph.get("/users").status_code == 200
    assert graph.get(f"/users/{ALICE}/messages").status_code == 503
    assert graph.get(f"/users/{ALICE}/messages").status_code != 503


def test_fault_for_a_duration_ends_with_the_clock(graph: httpx.Client, sb: Sandbox) -> None:
    sb.faults.inject("503", tenant=TENANT_A, seconds=30)
    assert [graph.get("/users").status_code for _ in range(3)] == [503, 503, 503]
    sb.clock.advance(31)  # type: ignore[attr-defined]
    assert graph.get("/users").status_code == 200


def test_faults_on_one_tenant_do_not_touch_another(graph: httpx.Client, sb: Sandbox) -> None:
    sb.faults.inject("503", tenant=TENANT_B, count=5)
    assert graph.get("/users").status_code == 200


def test_connection_reset_closes_without_reply(graph: httpx.Client, sb: Sandbox) -> None:
    sb.faults.inject("reset", tenant=TENANT_A, count=1)
    with pytest.raises(httpx.TransportError):
        graph.get("/users")
    assert graph.get("/users").status_code == 200


def test_truncated_body_is_invalid_json(graph: httpx.Client, sb: Sandbox) -> None:
    sb.faults.inject("truncate", tenant=TENANT_A, count=1)
    r = graph.get("/users")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_expire_tokens_makes_existing_tokens_401_but_new_ones_work(graph: httpx.Client, sb: Sandbox,
                                                                    server: SandboxServer) -> None:
    sb.faults.inject("expire_tokens", tenant=TENANT_A)
    r = graph.get("/users")
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    fresh = get_token(server, TENANT_A).json()["access_token"]
    assert graph.get("/users", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_consent_revoked_mid_run(graph: httpx.Client, sb: Sandbox, server: SandboxServer) -> None:
    assert graph.get("/users").status_code == 200
    sb.faults.inject("revoke_consent", tenant=TENANT_A)
    r = graph.get("/users")
    assert r.status_code == 403 and r.json()["error"]["code"] == "Authorization_RequestDenied"
    assert get_token(server, TENANT_A).json()["error_codes"] == [7000229]


def test_mailbox_404_fault(graph: httpx.Client, sb: Sandbox) -> None:
    sb.faults.inject("mailbox_404", tenant=TENANT_A, mailbox=ALICE, code="MailboxNotEnabledForRESTAPI")
    r = graph.get(f"/users/{ALICE}/mailFolders/inbox/messages")
    assert r.status_code == 404 and r.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    assert graph.get(f"/users/{ALICE}").status_code == 200  # directory reads are unaffected
    assert graph.get(f"/users/{ALICE}/messages").status_code == 404


def test_user_deleted_after_n_requests(graph: httpx.Client, sb: Sandbox) -> None:
    sb.faults.inject("delete_user", tenant=TENANT_A, count=2, user="bob@contoso.example")
    assert graph.get(f"/users/{BOB}").status_code == 200
    assert graph.get(f"/users/{BOB}").status_code == 404  # deleted as the 2nd request arrived
    assert BOB in sb.tenant(TENANT_A).deleted_users


def test_slow_fault_delays_reply(graph: httpx.Client, sb: Sandbox) -> None:
    sb.faults.inject("slow", tenant=TENANT_A, count=1, delay=0.2)
    r = graph.get("/users")
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.2


def test_unknown_fault_kind_is_refused(sb: Sandbox) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        sb.faults.inject("meteor", tenant=TENANT_A)
