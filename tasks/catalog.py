"""Every mailwarden deployment, in one place: entrypoint, schedule, tags, concurrency, triggers.

``deployments/serve.py`` serves them from one process; ``prefect.yaml`` declares the same set
for ``prefect deploy --all`` on a work pool. This module is the source of truth: prefect.yaml
repeats its crons, time zone, tags and limits (tests/deployments/test_prefect_yaml.py holds them
equal). Deployment names equal flow names, so a deployment
is addressed as ``<flow>/<flow>`` (for example ``reconcile-licenses/reconcile-licenses``).

It sits in the task layer because the onboarding flow's tasks give each new tenant its schedules
(``tasks/schedules.py``): deployments/ serves from it, and no lower layer imports deployments/.

Schedules that act on a tenant are made per connected tenant: one cron entry per ``M365Tenant``
block, with the tenant as the schedule's parameter.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

SCHEDULE_TIMEZONE = "UTC"


@dataclass(frozen=True)
class DeploymentSpec:
    """What one deployment is: a flow function and how it is run."""

    name: str
    entrypoint: str  # "flows/module.py:function"
    tags: tuple[str, ...] = ()
    cron: str | None = None  # per-tenant schedule
    concurrency_limit: int | None = None
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)

    def load_flow(self) -> Any:
        """Import the flow object named by the entrypoint."""
        path, func = self.entrypoint.split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        return getattr(module, func)


CATALOG: tuple[DeploymentSpec, ...] = (
    DeploymentSpec("onboard-tenant", "flows/onboarding.py:onboard_tenant", ("onboarding",),
                   description="Connect a tenant: admin consent, readiness, block, notification."),
    DeploymentSpec("offboard-tenant", "flows/onboarding.py:offboard_tenant", ("onboarding",),
                   description="Disconnect a tenant; keep or purge its data."),
    DeploymentSpec("reconcile-licenses", "flows/reconciliation.py:reconcile_licenses", ("directory", "licensing"),
                   cron="0 2 * * *", concurrency_limit=4,
                   description="Nightly directory sync and licence reconciliation."),
    DeploymentSpec("historic-scan", "flows/historic_scan.py:historic_scan", ("scan",), concurrency_limit=2,
                   description="Scan existing mail of every mailbox; report or remediate per policy."),
    DeploymentSpec("threat-response", "flows/threat_response.py:threat_response", ("response",),
                   description="Search all mailboxes for a threat and act on every copy, with approval."),
    DeploymentSpec("restore", "flows/threat_response.py:restore", ("response",),
                   description="Undo quarantines and soft deletes of an earlier run."),
    DeploymentSpec("rules-audit", "flows/rules_audit.py:rules_audit", ("rules",), cron="*/15 * * * *",
                   concurrency_limit=1, description="Audit inbox rules and forwarding; alert on new suspicious ones."),
    # No deployment concurrency limit: a run paused for approval gives its slot back and then
    # crashes on the lease renewal, so the playbook relies on its own per-step idempotency instead.
    DeploymentSpec("takeover-response", "flows/takeover_response.py:takeover_response", ("response", "takeover"),
                   description="Account-takeover playbook: rules, forwarding, sessions, password, account."),
    DeploymentSpec("recall-message", "flows/recall.py:recall_message", ("recall",),
                   description="Pull a sent message back from internal recipients' mailboxes."),
    DeploymentSpec("protect-mailboxes", "flows/protection.py:protect_mailboxes", ("protection",),
                   cron="30 */6 * * *", concurrency_limit=4,
                   description="Subscribe protected mailboxes to change notifications; renew; report health."),
    DeploymentSpec("process-notifications", "flows/protection.py:process_notifications", ("protection",),
                   cron="* * * * *", concurrency_limit=4,
                   description="Verdict and policy action for every newly delivered message (queued notifications)."),
    DeploymentSpec("delta-sweep", "flows/protection.py:delta_sweep", ("protection",), cron="*/15 * * * *",
                   concurrency_limit=2, description="Catch mail that notifications missed: per-folder message delta."),
)


def spec(name: str) -> DeploymentSpec:
    """The deployment called ``name``."""
    for item in CATALOG:
        if item.name == name:
            return item
    raise KeyError(name)
