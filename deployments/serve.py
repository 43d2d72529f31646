"""Serve every mailwarden deployment from one process (Prefect's ``serve``).

    python -m deployments.serve [--only NAME ...]

Per-tenant schedules (nightly reconciliation, the 15-minute rules audit) are made for each
connected tenant found among the saved ``M365Tenant`` blocks, with the slugs onboarding gives them
(``tasks/schedules.py``): on a restart the server updates each by slug, never adds a twin. The
takeover playbook starts on the ``mailwarden.rule.suspicious`` event.

It refuses to start when the Prefect API is reachable beyond this machine without an auth string
and CSRF protection (``deployments/exposure.py``). What may run without approval is each tenant's
policy (``M365 Tenant Policy`` blocks), never a parameter of the trigger.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from tasks.catalog import CATALOG, DeploymentSpec

log = logging.getLogger(__name__)


def connected_tenants() -> list[str]:
    """Block names of the saved tenant connections."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        try:
            documents = client.read_block_documents_by_type("m365-tenant")
        except Exception as exc:  # noqa: BLE001 - no tenants yet is not an error here
            log.info("no tenant blocks yet (%s)", type(exc).__name__)
            return []
    return sorted(doc.name for doc in documents if doc.name)


def build_deployments(*, tenants: list[str] | None = None, only: list[str] | None = None) -> list[Any]:
    """RunnerDeployments for the catalogue (or the ``only`` named ones)."""
    from tasks.schedules import tenant_schedule

    tenants = connected_tenants() if tenants is None else tenants
    deployments = []
    for item in CATALOG:
        if only and item.name not in only:
            continue
        flow = item.load_flow()
        schedules = [tenant_schedule(item, t) for t in tenants] if item.cron else None
        deployments.append(strict_parameters(
            flow.to_deployment(
                name=item.name,
                schedules=schedules,
                tags=["mailwarden", *item.tags],
                concurrency_limit=item.concurrency_limit,
                description=item.description,
                parameters=item.parameters or None,
                triggers=_triggers(item),
            )
        ))
    return deployments


def strict_parameters(deployment: Any) -> Any:
    """Make the server refuse a run whose parameters the flow does not take (``additionalProperties``
    false in the deployment's schema, which Prefect enforces when the run is created): a parameter an
    older version took, or an attacker's guess, is a clear 409 instead of a crashed run."""
    from prefect.utilities.callables import ParameterSchema
    from pydantic import ConfigDict

    class _Strict(ParameterSchema):
        model_config = ConfigDict(extra="allow")

    schema = {**deployment._parameter_openapi_schema.model_dump(), "additionalProperties": False}
    deployment._parameter_openapi_schema = _Strict.model_validate(schema)
    return deployment


def _triggers(item: DeploymentSpec) -> list[Any] | None:
    if item.name != "takeover-response":
        return None
    from flows.takeover_response import takeover_trigger

    return [takeover_trigger()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="serve only these deployments")
    args = parser.parse_args(argv)
    from prefect import serve

    from deployments.exposure import PrefectExposure, check_prefect_exposure

    check_prefect_exposure(PrefectExposure.current())

    from tasks.schedules import prune_schedules

    tenants = connected_tenants()
    pruned = prune_schedules(tenants)  # tenants whose block is gone keep no schedule
    if pruned:
        log.info("removed %d schedules of tenants no longer connected", len(pruned))
    serve(*build_deployments(tenants=tenants, only=args.only), limit=8)


if __name__ == "__main__":
    main()
