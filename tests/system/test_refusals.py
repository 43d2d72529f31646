"""Forged consent callbacks and forged playbook parameters are refused and change nothing; every
destructive action in the audit log carries its approval and its reason.

The callbacks go to the real consent callback, with a real onboarding run paused behind it and
the real sandbox consent redirect in front; the playbook parameters go to the takeover flow.
"Nothing changed" is read from the sandbox's own state, the Prefect blocks and the store, and
the sandbox counts the API requests each tenant receives.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests._policy import ALL_UNATTENDED, UNATTENDED_RESPONSE, save_policy

from ._support import (
    QUARANTINE_POLICY,
    SINCE,
    RequestLog,
    admin_consents,
    audit_rows,
    call_back,
    consent_url,
    in_thread,
    onboard_params,
    rows_naming,
    sandbox_snapshot,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | changes
    return parts._replace(query=urlencode(query)).geturl()


def _run_state(thread: threading.Thread, box: dict[str, Any]) -> str:
    """The onboarding run's state type as the Prefect server sees it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    assert thread.is_alive() or "state" in box
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[box["name"]])))
    return str(runs[0].state.type.value) if runs and runs[0].state else "?"


def _onboarding(embedded: Any, app_blocks: dict[str, str], domain: str) -> tuple[threading.Thread, dict[str, Any]]:
    from flows.onboarding import onboard_tenant

    name = f"onboard-{secrets.token_hex(4)}"
    thread, box = in_thread(onboard_tenant.with_options(flow_run_name=name),
                            **onboard_params(domain, app_blocks, embedded))
    box["name"] = name
    return thread, box


def _block_or_none(name: str) -> Any:
    from blocks.m365 import M365Tenant

    try:
        return M365Tenant.load(name)
    except ValueError:
        return None


def _wait_paused(thread: threading.Thread, box: dict[str, Any]) -> None:
    deadline = time.monotonic() + 30
    while _run_state(thread, box) != "PAUSED":
        assert time.monotonic() < deadline, "the onboarding run never paused for consent"
        time.sleep(0.2)  # polling the server for the paused state


def test_forged_and_replayed_consent_callbacks_are_refused_and_change_nothing(
        embedded: Any, tenant_factory: Any, app_blocks: dict[str, str], callback: Any) -> None:
    from tasks.onboarding import tenant_block_name

    _, state = tenant_factory(users=10, messages_per_mailbox=1, consent=None)
    thread, box = _onboarding(embedded, app_blocks, state.domain)
    genuine = admin_consents(consent_url(state.domain, "basic", thread), embedded.ca_file)
    _wait_paused(thread, box)

    # a state nobody issued, and a malformed one: refused, the run keeps waiting
    for forged in (_with(genuine, state=secrets.token_urlsafe(32)), _with(genuine, state="x' OR 1=1 --")):
        page = call_back(forged)
        assert page.status_code == 400, page.text
        assert _run_state(thread, box) == "PAUSED"
    assert _block_or_none(tenant_block_name(state.domain)) is None

    # the admin's own callback connects the tenant
    assert "Connected" in call_back(genuine).text
    thread.join(90)
    assert box["state"].is_completed(), box["state"]
    block = _block_or_none(box["state"].result()["block_name"])
    assert block is not None and block.tenant_id == state.id
    rows = rows_naming(state.id)

    # replayed, as is or pointed at another tenant: refused, nothing changes
    _, other = tenant_factory(users=10, messages_per_mailbox=1)
    for replay in (genuine, _with(genuine, tenant=other.id)):
        page = call_back(replay)
        assert page.status_code == 400 and "already used" in page.text
    again = _block_or_none(block.block_name)
    assert (again.tenant_id, again.consented_at) == (block.tenant_id, block.consented_at)
    assert rows_naming(state.id) == rows
    assert rows_naming(other.id) == {t: [] for t in rows_naming(other.id)}


def test_a_consent_callback_naming_another_tenant_connects_nothing(
        embedded: Any, tenant_factory: Any, app_blocks: dict[str, str], callback: Any) -> None:
    """The admin of tenant X consents, but the callback is rewritten to name tenant Y (a customer
    that consented to mailwarden before): the run fails and neither tenant gets a block."""
    from tasks.onboarding import tenant_block_name

    _, state = tenant_factory(users=10, messages_per_mailbox=1, consent=None)
    _, other = tenant_factory(users=10, messages_per_mailbox=1)
    thread, box = _onboarding(embedded, app_blocks, state.domain)
    genuine = admin_consents(consent_url(state.domain, "basic", thread), embedded.ca_file)
    _wait_paused(thread, box)
    before = sandbox_snapshot(other)
    call_back(_with(genuine, tenant=other.id))
    thread.join(90)
    assert box["state"].is_failed(), box["state"]
    assert _block_or_none(tenant_block_name(state.domain)) is None
    assert _block_or_none(tenant_block_name(other.domain)) is None
    assert sandbox_snapshot(other) == before
    assert rows_naming(other.id) == {t: [] for t in rows_naming(other.id)}


def test_a_consent_callback_naming_another_tenant_makes_no_api_call_to_it(
        embedded: Any, tenant_factory: Any, app_blocks: dict[str, str], callback: Any) -> None:
    _, state = tenant_factory(users=10, messages_per_mailbox=1, consent=None)
    _, other = tenant_factory(users=10, messages_per_mailbox=1)
    thread, box = _onboarding(embedded, app_blocks, state.domain)
    genuine = admin_consents(consent_url(state.domain, "basic", thread), embedded.ca_file)
    _wait_paused(thread, box)
    with RequestLog(embedded.sandbox).watching() as requests:
        call_back(_with(genuine, tenant=other.id))
        thread.join(90)
    assert box["state"].is_failed()
    assert requests.counts[other.id] == 0


@pytest.fixture
def victim_tenant(tenant_factory: Any) -> tuple[Any, Any, str]:
    block, state = tenant_factory(users=10, messages_per_mailbox=2)
    block.save(block.block_name, overwrite=True)
    victim = next(u for u, _ in sorted(state.truth.malicious_rules))
    return block, state, victim


INJECTIONS = [
    "{upn}' or '1' eq '1",
    "{upn}/../../users",
    "{upn}?$select=id",
    "*@{domain}",
    "{local} or 1 eq 1@{domain}",
    "{local}%2F..%2Fusers@{domain}",
    "{local}\r\nX-Forwarded-For: 1@{domain}",
    "{local}@{domain}@evil.example",
    "$filter=startswith(userPrincipalName,'a')",
]


def test_forged_playbook_parameters_are_refused_and_change_nothing(
        embedded: Any, tenant_factory: Any, victim_tenant: tuple[Any, Any, str]) -> None:
    from flows.takeover_response import takeover_response

    block, state, victim = victim_tenant
    _, other = tenant_factory(users=10, messages_per_mailbox=1, consent="basic")
    upn = str(state.users[victim]["userPrincipalName"])
    local, domain = upn.split("@", 1)
    foreign = next(iter(other.users.values()))
    cases = {
        "user of another tenant (UPN)": (block.primary_domain, foreign["userPrincipalName"]),
        "user of another tenant (id)": (block.primary_domain, foreign["id"]),
        "unknown tenant block": ("no-such-tenant.example", upn),
        **{f"injection {i}": (block.primary_domain, text.format(upn=upn, local=local, domain=domain))
           for i, text in enumerate(INJECTIONS)},
    }
    before, before_other = sandbox_snapshot(state), sandbox_snapshot(other)
    refused: dict[str, str] = {}
    own_requests: dict[str, int] = {}
    with RequestLog(embedded.sandbox).watching() as requests:
        for case, (tenant, user) in cases.items():
            seen = requests.counts[state.id]
            try:
                takeover_response(tenant=tenant, user=user, evidence={"reasons": ["forged"]})
            except Exception as exc:
                refused[case] = type(exc).__name__
            else:
                refused[case] = "accepted"
            own_requests[case] = requests.counts[state.id] - seen
    assert sandbox_snapshot(state) == before and sandbox_snapshot(other) == before_other
    assert audit_rows(state.id) == [] and audit_rows(other.id) == []
    assert requests.counts[other.id] == 0  # another tenant's user never reaches that tenant
    assert refused == dict.fromkeys(cases, "ValueError")
    # a malformed user is refused before anything is sent, even to its own tenant
    assert {c: n for c, n in own_requests.items() if c.startswith("injection")} == \
        {c: 0 for c in cases if c.startswith("injection")}


def test_every_destructive_action_in_the_audit_log_has_its_approval_and_reason(
        embedded: Any, tenant_factory: Any) -> None:
    """Scan policy, auto and API-approved threat response, restore, playbook and recall, then the whole log."""
    from prefect.flow_runs import resume_flow_run

    from flows.historic_scan import historic_scan
    from flows.recall import recall_message
    from flows.reconciliation import reconcile_licenses
    from flows.takeover_response import takeover_response
    from flows.threat_response import ThreatQuery, restore, threat_response

    block, state = tenant_factory(users=16, messages_per_mailbox=4, phishing_rate=0.2)
    block.save(block.block_name, overwrite=True)
    save_policy(block, **ALL_UNATTENDED, **UNATTENDED_RESPONSE)
    tenant = block.primary_domain
    reconcile_licenses(tenant=tenant)
    historic_scan(tenant=tenant, since=SINCE, policy=QUARANTINE_POLICY, concurrency=4, retry_delay_seconds=0)
    campaigns = list(state.truth.campaigns)
    first = threat_response(tenant=tenant, query=ThreatQuery(internet_message_id=campaigns[0]),
                            action="move_to_junk", approval="auto", reason="SOC ticket 4711")
    restore(tenant=tenant, flow_run_id=first["flow_run_id"], reason="false positive, ticket 4712")
    thread, box = in_thread(threat_response, tenant=tenant, query=ThreatQuery(internet_message_id=campaigns[-1]),
                            action="soft_delete", approval="ask", approval_poll_seconds=1, approval_timeout=60)
    _approve_paused(tenant, {"decision": "approve", "approver": "soc-lead"}, resume_flow_run)
    thread.join(60)
    assert box["state"].is_completed()
    victim, rule_id = next((u, r) for u, r in sorted(state.truth.malicious_rules) if "\\" not in r)
    takeover_response(tenant=tenant, user=victim, evidence={"rule_key": f"graph:{rule_id}"})
    fx = state.truth.recall_fixtures[0]
    recall_message(tenant=tenant, sender=str(state.users[fx["sender"]]["mail"]),
                   internet_message_id=fx["internet_message_id"], include_read=True)

    rows = audit_rows()
    mine = [r for r in rows if r.tenant_id == state.id]
    kinds = {r.action for r in mine}
    assert {"quarantine", "move_to_junk", "restore", "soft_delete", "remove_rules", "reset_password",
            "disable_account"} <= kinds, kinds
    missing = [(r.id, r.actor, r.action, r.approval, r.reason) for r in rows
               if not (r.approval or "").strip() or not (r.reason or "").strip()]
    assert missing == []
    assert all(r.flow_run_id for r in mine)  # and each of this run's actions names the flow run that did it
    for r in rows:  # a policy action names its policy rule; an approved one how it came and who claimed it
        if r.approval == "policy":
            assert r.reason.startswith("policy:"), (r.id, r.reason)
        assert not r.approval.startswith("approved:"), "a typed name is never recorded as the approver"
    assert any(r.approval == "approved via prefect-api (actor unverified; claimed by 'soc-lead')"
               and r.action == "soft_delete" for r in mine)
    assert any(r.reason == "false positive, ticket 4712" and r.action == "restore" for r in mine)


def _approve_paused(tenant: str, run_input: dict[str, Any], resume: Any) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    flt = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = [r for r in client.read_flow_runs(flow_run_filter=flt) if r.parameters.get("tenant") == tenant]
            if runs:
                try:
                    resume(runs[0].id, run_input=run_input)
                    return
                except Exception:  # the run registers its input schema right after pausing
                    pass
            time.sleep(0.2)  # polling the server for the paused run
    raise AssertionError("the threat response never paused for approval")
