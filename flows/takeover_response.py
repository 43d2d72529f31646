"""Flow ``takeover-response``: contain a suspected account takeover, step by step, audited.

Entrypoint: ``flows/takeover_response.py:takeover_response``, triggered by the event
``mailwarden.rule.suspicious`` (see :func:`takeover_trigger`) or run by hand.

Input is checked before anything is touched (unknown user, user of another tenant, malformed
evidence, a request beyond the tenant's policy -> ValueError). Which steps run without approval
is the tenant's policy (``M365 Tenant Policy`` block, ``takeover_unattended_steps``); a run may
only ask for more approval (``mode="ask"``, or fewer ``auto_steps``). Steps run in the given order;
unattended steps run at once, the others wait for one approval (``ApprovalInput`` through the
Prefect UI/API: approve, skip named steps, or reject) until the approval timeout (capped by the
policy) passes, then count as rejected. Each step is idempotent and recorded in the audit log
with how it was approved, so running the playbook again changes nothing. Identity steps need the
tenant's advanced app; without it they are reported "skipped: needs advanced permissions".
Accounts that hold a directory role (directly or through a group), accounts on the policy's
``never_disable`` list, and accounts whose roles cannot be read are never disabled or reset. The
reset password is random, never logged, stored or sent anywhere: the help desk hands the user a
new one.
"""

from __future__ import annotations

from typing import Any, Literal, cast

import pydantic
from prefect import flow, get_run_logger
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.flow_runs import FlowPauseTimeout, pause_flow_run
from prefect.input import RunInput

from blocks.policy import load_policy
from mailwarden.policy.approval import Approval
from mailwarden.reports import md
from mailwarden.takeover import STEPS, Playbook, StepResult, validate_evidence, validate_steps
from tasks.common import current_flow_run_id, load_tenant, store_for
from tasks.mailbox_access import onprem_access
from tasks.notify import notify_task
from tasks.takeover import (
    approval_markdown,
    finish_run,
    publish_summary,
    record_step,
    resolve_user,
    rule_context,
    run_step,
    start_run,
)

APPROVAL_POLL_SECONDS = 5
READ_ONLY_STEPS = frozenset({"review_sent_items"})


class ApprovalInput(RunInput):
    """The approver's answer: approve (optionally skipping named steps) or reject."""

    approve: bool = pydantic.Field(True, title="Approve", description="Run the steps below (untick to reject all).")
    skip: list[str] = pydantic.Field([], title="Skip", description="Steps to leave out although approved.")
    comment: str = pydantic.Field("", title="Comment", description="Why (kept in the run's decision).")


def approval_form(ask: list[str], description: str) -> type[ApprovalInput]:
    """The ApprovalInput the UI shows: ``skip`` offers only the waiting steps, with the request as text."""
    choices: Any = list[cast(Any, Literal)[tuple(ask)]]  # type: ignore[misc]  # built at run time
    form = pydantic.create_model(
        "ApprovalInput", __base__=ApprovalInput,
        skip=(choices, pydantic.Field([], title="Skip", description="Waiting steps to leave out.")))
    return form.with_initial_data(description=description)


def takeover_trigger(enabled: bool = True) -> DeploymentEventTrigger:
    """The trigger that runs ``takeover-response`` for each ``mailwarden.rule.suspicious`` event."""
    return DeploymentEventTrigger(
        name="takeover-on-suspicious-rule",
        enabled=enabled,
        expect={"mailwarden.rule.suspicious"},
        match={"prefect.resource.id": "mailwarden.tenant.*"},
        parameters={  # the payload names the work; what may run unattended is the tenant's policy
            "tenant": "{{ event.payload.tenant }}",
            "user": "{{ event.payload.user }}",
            "evidence": "{{ event.payload }}",  # a single expression: Prefect renders it as JSON (a dict)
        },
    )


def _ask(ask: list[str], timeout: int, description: str) -> tuple[set[str], str, Approval]:
    """Pause for one ApprovalInput; the approved steps, a description of the decision, and who decided."""
    try:
        answer = pause_flow_run(wait_for_input=approval_form(ask, description), timeout=timeout,
                                poll_interval=APPROVAL_POLL_SECONDS)
    except FlowPauseTimeout:
        return set(), f"no answer within {timeout}s: {', '.join(ask)} not run", Approval("timed-out")
    if answer is None or not answer.approve:
        comment = answer.comment if answer is not None else ""
        reason = f" ({comment[:200]})" if comment else ""
        return set(), f"rejected{reason}", Approval.from_resume(False, comment=comment)
    unknown = [s for s in answer.skip if s not in STEPS]
    if unknown:
        get_run_logger().warning("approval names unknown steps to skip: %s", unknown)
    approved = {s for s in ask if s not in set(answer.skip)}
    who = Approval.from_resume(True, comment=answer.comment)
    return approved, "approved" + (f", skipping {', '.join(sorted(set(ask) - approved))}"
                                   if set(ask) - approved else ""), who


@flow(name="takeover-response", log_prints=False, validate_parameters=True)
def takeover_response(
    tenant: str,
    user: str,
    evidence: dict[str, Any] | None = None,
    steps: list[str] | None = None,
    mode: Literal["policy", "ask"] = "policy",
    auto_steps: list[str] | None = None,
    approval_timeout: int | None = None,
    threshold: str = "medium",
    notify: str | None = None,
) -> dict[str, Any]:
    """Contain a suspected takeover of ``user``: rules, forwarding, sessions, password, account, sent items.

    Args:
        tenant: The tenant's block name or primary domain.
        user: The user's object id or UPN.
        evidence: Why (e.g. the ``mailwarden.rule.suspicious`` payload: rule_key, reasons, first_seen).
        steps: Ordered steps (default: all, in the standard order).
        mode: ``policy`` (the steps the tenant's policy lets run unattended do so, the rest ask) or
            ``ask`` (every step that changes something asks).
        auto_steps: In ``policy`` mode, only these run unattended (each must be allowed by the policy).
        approval_timeout: Seconds to wait for an approval (default and maximum: the policy's).
        threshold: Lowest risk of a rule that is removed.
        notify: Name of a Prefect notification block told what was done.
    """
    steps = validate_steps(list(STEPS) if steps is None else steps)
    ev = validate_evidence(evidence)
    if auto_steps is not None:
        validate_steps(auto_steps)
    block = load_tenant(tenant)
    policy = load_policy(block.block_name, block.tenant_id)
    timeout = policy.narrow_timeout(approval_timeout)
    auto = policy.narrow_takeover(steps, auto_steps if mode == "policy" else [], READ_ONLY_STEPS)
    store = store_for(block)
    with block.graph_client("basic") as graph, block.exchange_client("basic") as exchange:
        target = resolve_user(block, graph, user, ev)
        admin = block.graph_client("advanced") if block.advanced_app is not None else None
        try:
            run_id = start_run(block, target["id"], ev, current_flow_run_id(),
                               "event" if ev.get("rule_key") else "manual")
            playbook = Playbook(
                block.tenant_id, target["id"], target["upn"], graph, exchange, store, ev,
                rule_context(target["domains"]), graph_admin=admin,
                message_rules=block.endpoints().supports_message_rules, threshold=threshold,
                flow_run_id=current_flow_run_id(),
                protected_upns=policy.never_disable,
                mailbox=onprem_access(block, graph, target["id"]))  # on-premises mailbox: EWS
            done, decision = [], "not needed (every step allowed unattended by the tenant's policy)"
            approved: set[str] | None = None
            who = Approval.unattended()
            for step in steps:
                if step in auto:
                    approval = Approval.unattended().audit_text()
                else:
                    if approved is None:
                        ask = [s for s in steps if s not in auto]
                        approved, decision, who = _ask(ask, timeout, approval_markdown(
                            block, target, ev, ask, [s for s in steps if s in auto]))
                    if step not in approved:
                        res = StepResult(step, "skipped", f"not approved: {decision}").to_dict()
                        record_step(block, run_id, res)
                        done.append(res)
                        continue
                    approval = who.audit_text()
                try:
                    res = run_step(playbook, step, approval)
                except Exception as exc:  # noqa: BLE001 - a failed step is reported, later steps still run
                    get_run_logger().error("step %s failed: %s: %s", step, type(exc).__name__, str(exc)[:300])
                    res = StepResult(step, "failed", f"{type(exc).__name__}: {str(exc)[:200]}").to_dict()
                record_step(block, run_id, res)
                done.append(res)
        finally:
            if admin is not None:
                admin.close()
    failed = [s["step"] for s in done if s["result"] == "failed"]
    finish_run(block, run_id, "failed" if failed else "done")
    publish_summary(block, target, done, f"{decision} [{who.audit_text()}]")
    body = "\n".join([f"Takeover response for {md(target['upn'])} in {md(block.primary_domain)} ({md(decision)}):",
                      *[f"- {md(s['step'])}: {md(s['result'])} {md(s['detail'])}" for s in done]])
    notified = notify_task(notify, f"mailwarden: takeover response for {target['upn']}", body)
    out = {"tenant": block.primary_domain, "user": target["id"], "upn": target["upn"], "run_id": run_id,
           "decision": decision, "approval": who.audit_text(), "steps": done, "notified": notified}
    if failed:
        raise RuntimeError(f"takeover response steps failed: {', '.join(failed)}")
    return out
