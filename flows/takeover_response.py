"""Flow ``takeover-response``: contain a suspected account takeover, step by step, audited.

Entrypoint: ``flows/takeover_response.py:takeover_response``, triggered by the event
``mailwarden.rule.suspicious`` (see :func:`takeover_trigger`) or run by hand.

1. check the input before anything is touched: the steps, the evidence, the tenant's policy
   (``M365 Tenant Policy`` block, ``takeover_unattended_steps``) decides which steps may run
   unattended; a run may only ask for more approval (``mode="ask"``, or fewer ``auto_steps``);
   a request beyond the policy -> ValueError;
2. resolve the user: unknown, of another tenant, or not the one the evidence names -> ValueError;
   record the playbook run;
3. run the steps in the given order (rules, forwarding, sessions, password, account, sent items):
   unattended ones at once; the others wait for one approval (``ApprovalInput`` through the
   Prefect UI/API: approve, skip named steps, or reject) until the approval timeout (capped by
   the policy) passes, then count as rejected. Each step is idempotent and recorded in the audit
   log with how it was approved, so running the playbook again changes nothing; a failed step
   is reported and the later ones still run;
4. publish the summary, notify, and fail the run if any step failed.

Identity steps need the tenant's advanced app; without it they are reported "skipped: needs
advanced permissions". Accounts that hold a directory role (directly or through a group),
accounts on the policy's ``never_disable`` list, and accounts whose roles cannot be read are never
disabled or reset. The reset password is random, never logged, stored or sent anywhere: the help
desk hands the user a new one.

The steps are :mod:`mailwarden.takeover` (the run's order and report: ``mailwarden.takeover.run``);
the tasks, and the approval form, are in tasks/takeover.py.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

from blocks.policy import load_policy
from mailwarden.takeover import STEPS, validate_evidence, validate_steps
from tasks.common import current_flow_run_id, load_tenant
from tasks.notify import notify_task
from tasks.takeover import (
    ApprovalInput,
    approval_form,
    finish_run,
    publish_summary,
    resolve_user,
    run_playbook,
    start_run,
    takeover_playbook,
)

__all__ = ["READ_ONLY_STEPS", "ApprovalInput", "approval_form", "takeover_response", "takeover_trigger"]

READ_ONLY_STEPS = frozenset({"review_sent_items"})


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
    # 1. the input, and what the tenant's policy lets run unattended
    steps = validate_steps(list(STEPS) if steps is None else steps)
    ev = validate_evidence(evidence)
    if auto_steps is not None:
        validate_steps(auto_steps)
    block = load_tenant(tenant)
    policy = load_policy(block.block_name, block.tenant_id)
    timeout = policy.narrow_timeout(approval_timeout)
    auto = policy.narrow_takeover(steps, auto_steps if mode == "policy" else [], READ_ONLY_STEPS)
    with block.graph_client("basic") as graph, block.exchange_client("basic") as exchange:
        # 2. the user, and the run's record
        target = resolve_user(block, graph, user, ev)
        run_id = start_run(block, target["id"], ev, current_flow_run_id())
        # 3. the steps in order: unattended at once, the others after one approval
        with takeover_playbook(block, graph, exchange, target, ev, threshold=threshold,
                               protected_upns=policy.never_disable) as playbook:
            run = run_playbook(block, playbook, run_id, target, ev, steps, auto, timeout)
    # 4. report: the run row, the summary, the notification
    finish_run(block, run)
    publish_summary(block, run)
    notified = notify_task(notify, *run.notice())
    if run.failed:
        raise RuntimeError(f"takeover response steps failed: {', '.join(run.failed)}")
    return run.to_dict(notified=notified)
