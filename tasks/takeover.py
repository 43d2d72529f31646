"""Tasks of the ``takeover-response`` flow: check the request, run one playbook step, report."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from blocks.m365 import M365Tenant
from mailwarden.detection.rules import RuleContext
from mailwarden.graph import NotFound
from mailwarden.reports import md, md_code
from mailwarden.store.repositories import append_playbook_step, create_playbook_run, update_playbook_run
from mailwarden.takeover import Playbook, StepResult
from tasks.common import artifact_key, retry_transient, store_for

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
def start_run(block: M365Tenant, user_id: str, evidence: dict[str, Any], flow_run_id: str | None,
              trigger: str) -> str:
    """The playbook run row."""
    with store_for(block).session() as s:
        run = create_playbook_run(s, block.tenant_id, user_id, flow_run_id=flow_run_id, trigger=trigger,
                                  evidence=evidence)
        return str(run.id)


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
def finish_run(block: M365Tenant, run_id: str, status: str) -> None:
    """Set the run's final status."""
    with store_for(block).session() as s:
        update_playbook_run(s, run_id, status=status)


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
def publish_summary(block: M365Tenant, user: dict[str, Any], steps: list[dict[str, Any]], decision: str) -> str:
    """The summary as a Markdown artifact; returns its text."""
    md = summary_markdown(block, user, steps, decision)
    create_markdown_artifact(md, key=artifact_key("takeover-response-summary", block),
                             description=f"Takeover response for {user['upn']}: {decision}")
    return md
