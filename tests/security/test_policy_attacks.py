"""Who can only start runs or emit events cannot widen the tenant's policy.

Each attack goes through the Prefect API to deployments served by a real ``serve`` process
(``served`` in conftest.py), against a sandbox tenant; "nothing happened" is read from the
sandbox's own state: accounts, password changes, messages.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = [pytest.mark.slow]

IDENTITY = ["reset_password", "disable_account"]


def _tenant(tenant_factory: Any) -> tuple[Any, Any, str]:
    block, state = tenant_factory(users=12, consent="advanced", messages_per_mailbox=2)
    block.save(block.block_name, overwrite=True)
    bad = {u for u, _ in state.truth.malicious_rules} | set(state.truth.external_forwarding)
    victim = next(u for u in sorted(state.truth.protected_mailboxes) if u not in bad)
    return block, state, victim


def _untouched(state: Any, user: str) -> bool:
    with state.lock:
        enabled = state.users[user].get("accountEnabled") is not False
        return enabled and not [p for p in state.password_changes if p.user_id == user]


def _refused(served: Any, name: str, parameters: dict[str, Any]) -> str:
    """The server refuses to create the run: the value or the parameter is outside the deployment's
    schema (``additionalProperties`` is false: deployments.serve.strict_parameters)."""
    try:
        run = served.start(name, parameters)
    except Exception as exc:
        return str(exc)
    done = served.wait(run.id, lambda r: r.state is not None and r.state.is_final())
    raise AssertionError(f"the run was created and ended {done.state}")


@pytest.mark.parametrize("extra", [{"mode": "auto"}, {"demo_auto_approve": True},
                                   {"protected_upns": []}])
def test_takeover_parameters_that_used_to_skip_approval_are_refused_by_the_server(
        served: Any, tenant_factory: Any, extra: dict[str, Any]) -> None:
    block, state, victim = _tenant(tenant_factory)
    message = _refused(served, "takeover-response",
                       {"tenant": block.primary_domain, "user": victim, "steps": IDENTITY, **extra})
    assert any(word in message for word in ("Validation", "validation", "unexpected", "parameter")), message
    assert _untouched(state, victim)


def test_asking_for_identity_steps_unattended_fails_before_any_change(served: Any, tenant_factory: Any) -> None:
    block, state, victim = _tenant(tenant_factory)
    run = served.run("takeover-response", {"tenant": block.primary_domain, "user": victim, "steps": IDENTITY,
                                           "auto_steps": IDENTITY})
    assert run.state.is_failed() and "requires approval for disable_account, reset_password" in str(
        run.state.message), run.state.message
    assert _untouched(state, victim)


def test_an_emitted_event_starts_a_playbook_that_waits_for_approval(served: Any, tenant_factory: Any) -> None:
    """The trigger passes tenant, user and evidence; whatever else the payload says, the gated steps wait."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter
    from prefect.events import emit_event
    from prefect.flow_runs import resume_flow_run

    block, state, victim = _tenant(tenant_factory)
    incident = uuid.uuid4().hex
    emit_event(event="mailwarden.rule.suspicious",
               resource={"prefect.resource.id": f"mailwarden.tenant.{block.tenant_id}"},
               payload={"tenant": block.primary_domain, "user": victim, "incident": incident, "mode": "auto",
                        "auto_steps": IDENTITY, "demo_auto_approve": True, "reasons": ["forged by an emitter"]})
    flt = DeploymentFilter(name=DeploymentFilterName(any_=["takeover-response"]))

    def mine() -> Any:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(deployment_filter=flt, flow_run_filter=FlowRunFilter())
        return next((r for r in runs if (r.parameters.get("evidence") or {}).get("incident") == incident), None)

    import time

    deadline = time.monotonic() + 180
    while (run := mine()) is None or not (run.state and run.state.is_paused()):
        assert run is None or not (run.state and run.state.is_final()), f"the playbook ended: {run.state}"
        assert time.monotonic() < deadline, "the triggered playbook never paused for approval"
        time.sleep(0.5)  # polling the server for the triggered run
    assert _untouched(state, victim)  # paused before the identity steps
    resume_flow_run(run.id, run_input={"approve": False, "comment": "forged"})
    done = served.wait(run.id, lambda r: r.state is not None and r.state.is_final())
    assert done.state.is_completed() and _untouched(state, victim)


def test_threat_response_cannot_hard_delete_unattended(served: Any, tenant_factory: Any) -> None:
    block, state, victim = _tenant(tenant_factory)
    with state.lock:
        mb = state.mailboxes[victim]
        before = sorted((it.id, it.folder) for it in mb.items.values())
        subject = next(iter(mb.items.values())).get("subject")
    run = served.run("threat-response", {"tenant": block.primary_domain, "query": {"subject": subject},
                                         "action": "hard_delete", "approval": "auto"})
    assert run.state.is_failed() and "requires approval for hard_delete" in str(run.state.message)
    with state.lock:
        assert sorted((it.id, it.folder) for it in mb.items.values()) == before


def test_protect_mailboxes_takes_no_notification_url(served: Any, tenant_factory: Any) -> None:
    block, _, _ = _tenant(tenant_factory)
    _refused(served, "protect-mailboxes",
                         {"tenant": block.primary_domain, "notification_url": "https://127.0.0.2:9/steal"})


def test_process_notifications_cannot_strengthen_the_tenants_actions(served: Any, tenant_factory: Any) -> None:
    block, _, _ = _tenant(tenant_factory)
    run = served.run("process-notifications", {"tenant": block.primary_domain,
                                               "policy": {"actions": {"spam": "quarantine"}}})
    assert run.state.is_failed() and "does not allow spam: quarantine" in str(run.state.message)


def test_a_scan_cannot_hard_delete_what_it_finds(served: Any, tenant_factory: Any) -> None:
    block, state, _ = _tenant(tenant_factory)
    before = {mb: sorted((it.id, it.folder) for it in box.items.values()) for mb, box in state.mailboxes.items()}
    run = served.run("historic-scan", {"tenant": block.primary_domain, "since": "2000-01-01T00:00:00Z",
                                       "policy": {"actions": {"malicious": "hard_delete", "spam": "soft_delete"}}})
    assert run.state.is_failed() and "scan_max_action" in str(run.state.message), run.state.message
    assert {mb: sorted((it.id, it.folder) for it in box.items.values())
            for mb, box in state.mailboxes.items()} == before
