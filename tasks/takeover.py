"""Tasks of the ``takeover-response`` flow: check the request, ask for approval, run the playbook's
steps one task each, report. The order of the steps and what a run reports are
:mod:`mailwarden.takeover.run`; the steps themselves :class:`mailwarden.takeover.Playbook`.

The approval is a paused flow run waiting for an :class:`ApprovalInput` (the Prefect UI's form, or
``resume_flow_run``); the form offers only the steps that wait, with the request as its text.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, cast
from urllib.parse import quote

import pydantic
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.flow_runs import FlowPauseTimeout, pause_flow_run
from prefect.input import RunInput

from blocks.m365 import M365Tenant
from mailwarden.detection.rules import RuleContext
from mailwarden.graph import NotFound
from mailwarden.reports import md, md_code
from mailwarden.store.repositories import append_playbook_step, create_playbook_run, update_playbook_run
from mailwarden.takeover import STEPS, Playbook, StepResult
from mailwarden.takeover.run import Decision, TakeoverRun, failed_step, run_trigger
from tasks.common import artifact_key, current_flow_run_id, retry_transient, store_for
from tasks.mailbox_access import onprem_access

#: How often a paused run checks for the approver's answer.
APPROVAL_POLL_SECONDS = 5

# A user object id, or a UPN: the characters Entra ID allows in its local part, then a DNS domain.
_USER_REF = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
                       r"|[A-Za-z0-9'._!#^~-]{1,113}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


@task(name="resolve-takeover-user", retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def resolve_user(block: M365Tenant, graph: Any, user: str, evidence: dict[str, Any]) -> dict[str, Any]:
    """The user (id or UPN) as a user of this tenant, and the tenant's rule context; ValueError otherwise."""
    if not isinstance(user, str) or not _USER_REF.fullmatch(user.strip()):
        raise ValueError("user must be a user id (GUID) or a UPN")
    user = user.strip()
    org = (graph.get("/organization").get("value") or [{}])[0]
    domains = {str(d.get("name", "")).lower() for d in org.get("verifiedDomains") or []}
    domains.add(block.primary_domain.lower())
    if "@" in user and user.rsplit("@", 1)[1].lower() not in domains:
        raise ValueError(f"user {user!r} is not of tenant {block.primary_domain}")
    try:
        found = graph.get(f"/users/{quote(user, safe='@')}",
                          params={"$select": "id,userPrincipalName,mail,accountEnabled"})
    except NotFound:
        raise ValueError(f"unknown user {user!r} in tenant {block.primary_domain}") from None
    ev_tenant = evidence.get("tenant")
    if ev_tenant and ev_tenant.lower() not in {block.block_name.lower(), block.primary_domain.lower(),
                                                block.tenant_id.lower()}:
        raise ValueError(f"the evidence is about tenant {ev_tenant!r}, not {block.primary_domain}")
    ev_user = evidence.get("user")
    if ev_user and ev_user.lower() not in {str(found.get("id", "")).lower(),
                                            str(found.get("userPrincipalName", "")).lower()}:
        raise ValueError(f"the evidence is about user {ev_user!r}, not {user!r}")
    get_run_logger().info("takeover response for %s (%s)", found.get("userPrincipalName"), found.get("id"))
    return {"id": str(found["id"]), "upn": str(found.get("userPrincipalName") or user),
            "domains": sorted(domains)}


def rule_context(domains: list[str]) -> RuleContext:
    """Rule context of the tenant's verified domains."""
    return RuleContext(frozenset(domains))


@task(name="start-playbook-run", cache_policy=NO_CACHE)
def start_run(block: M365Tenant, user_id: str, evidence: dict[str, Any], flow_run_id: str | None) -> str:
    """The playbook run row (triggered by an event when the evidence names a rule, else by hand)."""
    with store_for(block).session() as s:
        run = create_playbook_run(s, block.tenant_id, user_id, flow_run_id=flow_run_id,
                                  trigger=run_trigger(evidence), evidence=evidence)
        return str(run.id)


@contextmanager
def takeover_playbook(block: M365Tenant, graph: Any, exchange: Any, user: dict[str, Any], evidence: dict[str, Any],
                      *, threshold: str, protected_upns: frozenset[str]) -> Iterator[Playbook]:
    """The playbook for ``user``: the basic app's clients, the advanced app's Graph client for the identity
    steps when the tenant has it (closed afterwards), EWS for an on-premises mailbox."""
    admin = block.graph_client("advanced") if block.advanced_app is not None else None
    try:
        yield Playbook(
            block.tenant_id, user["id"], user["upn"], graph, exchange, store_for(block), evidence,
            rule_context(user["domains"]), graph_admin=admin,
            message_rules=block.endpoints().supports_message_rules, threshold=threshold,
            flow_run_id=current_flow_run_id(), protected_upns=protected_upns,
            mailbox=onprem_access(block, graph, user["id"]))
    finally:
        if admin is not None:
            admin.close()


@task(name="playbook-step", retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE, task_run_name="takeover-{step}")
def run_step(playbook: Playbook, step: str, approval: str) -> dict[str, Any]:
    """Run one idempotent, audited step; the result (never a password) as a dict."""
    result: StepResult = playbook.run_step(step, approval)
    log = get_run_logger()
    log.info("%s: %s %s", step, result.result, result.detail)
    return result.to_dict()


@task(name="record-playbook-step", cache_policy=NO_CACHE)
def record_step(block: M365Tenant, run_id: str, step: dict[str, Any]) -> None:
    """Append a step's outcome to the playbook run row."""
    with store_for(block).session() as s:
        append_playbook_step(s, run_id, {k: v for k, v in step.items() if k != "items"}
                             | {"count": len(step.get("items") or [])})


@task(name="finish-playbook-run", cache_policy=NO_CACHE)
def finish_run(block: M365Tenant, run: TakeoverRun) -> None:
    """Set the run row's final status (failed when a step failed)."""
    with store_for(block).session() as s:
        update_playbook_run(s, run.run_id, status=run.status)


def run_playbook(block: M365Tenant, playbook: Playbook, run_id: str, user: dict[str, Any], evidence: dict[str, Any],
                 steps: Sequence[str], auto: Collection[str], timeout: int) -> TakeoverRun:
    """Run ``steps`` in order, one task each: ``auto`` at once, the others after one approval (waiting at
    most ``timeout`` seconds); every outcome recorded on the run row, a failed step reported."""
    log = get_run_logger()

    def ask(waiting: list[str]) -> Decision:
        return ask_approval(block, user, evidence, waiting, [s for s in steps if s in auto], timeout)

    def one(step: str, approval: str) -> dict[str, Any]:
        try:
            return run_step(playbook, step, approval)
        except Exception as exc:  # noqa: BLE001 - a failed step is reported, later steps still run
            log.error("step %s failed: %s: %s", step, type(exc).__name__, str(exc)[:300])
            return failed_step(step, exc).to_dict()

    return TakeoverRun(block.primary_domain, user, run_id).play(
        steps, auto, ask=ask, run_step=one, record=lambda result: record_step(block, run_id, result))


# --- approval --------------------------------------------------------------------------------


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


def ask_approval(block: M365Tenant, user: dict[str, Any], evidence: dict[str, Any], ask: list[str],
                 auto: list[str], timeout: int) -> Decision:
    """Pause for one ApprovalInput about the steps in ``ask``; no answer within ``timeout`` seconds
    counts as rejected."""
    form = approval_form(ask, approval_markdown(block, user, evidence, ask, auto))
    try:
        answer = pause_flow_run(wait_for_input=form, timeout=timeout, poll_interval=APPROVAL_POLL_SECONDS)
    except FlowPauseTimeout:
        return Decision.timed_out(ask, timeout)
    if answer is None:
        return Decision.answer(ask, approve=False)
    unknown = [s for s in answer.skip if s not in STEPS]
    if unknown:
        get_run_logger().warning("approval names unknown steps to skip: %s", unknown)
    return Decision.answer(ask, approve=answer.approve, skip=answer.skip, comment=answer.comment)


def summary_markdown(block: M365Tenant, user: dict[str, Any], steps: list[dict[str, Any]],
                     decision: str) -> str:
    """The summary: one line per step, the removed rules and the sent items reviewed (all text that came
    from mail, rules or the directory escaped)."""
    lines = [f"# Takeover response for {md(user['upn'])} ({md(block.primary_domain)})", "",
             f"Approval: {md(decision)}", "", "| step | result | detail |", "|---|---|---|"]
    lines += [f"| {md(s['step'])} | {md(s['result'])} | {md(s['detail'])} |" for s in steps]
    for s in steps:  # empty sections are left out
        if s["step"] == "remove_rules" and s.get("items"):
            lines += ["", "## Rules", *[f"- {md(i.get('rule_key'))} {md(repr(i.get('name', '')))}: {md(i['result'])}"
                                         for i in s["items"]]]
        if s["step"] == "review_sent_items" and s.get("items"):
            lines += ["", f"## Sent items reviewed ({len(s['items'])})",
                      *[f"- {md(i['sent'])}: {md(repr(i['subject']))} to {md(', '.join(a for a in i['to'] if a))}"
                        for i in s["items"][:100]]]
    return "\n".join(lines)


def approval_markdown(block: M365Tenant, user: dict[str, Any], evidence: dict[str, Any], ask: list[str],
                      auto: list[str]) -> str:
    """What the approver reads in the approval form: tenant, user, evidence, the steps that wait.

    Evidence comes from an event payload or a rule an attacker named: every value is escaped, so a rule
    called ``[Approve](https://...)`` reads as that text."""
    reasons = evidence.get("reasons") or []
    ev = [f"- {k.replace('_', ' ')}: {md(evidence[k])}" for k in ("rule_name", "rule_key", "risk", "change",
                                                                 "first_seen") if evidence.get(k)]
    ev += [f"- reason: {md(r)}" for r in (reasons if isinstance(reasons, list) else [reasons])[:10]]
    return "\n".join([
        f"## Takeover response for {md(user['upn'])}", "",
        f"Tenant **{md(block.primary_domain)}** ({md(block.tenant_id)}), user {md_code(user['upn'])} "
        f"({md(user['id'])}).", "",
        "### Evidence", *(ev or ["- none given (run by hand)"]), "",
        "### Steps waiting for approval", *[f"- {md(s)}" for s in ask], "",
        *(["### Steps run without approval", *[f"- {md(s)}" for s in auto], ""] if auto else []),
        "Approve to run them; list steps under **skip** to leave them out, or reject to run none."])


@task(name="publish-takeover-report", cache_policy=NO_CACHE)
def publish_summary(block: M365Tenant, run: TakeoverRun) -> str:
    """The summary as a Markdown artifact; returns its text."""
    decision = run.approval_text()
    text = summary_markdown(block, run.user, run.steps, decision)
    create_markdown_artifact(text, key=artifact_key("takeover-response-summary", block),
                             description=f"Takeover response for {run.user['upn']}: {decision}")
    return text
