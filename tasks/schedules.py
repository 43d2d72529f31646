"""Per-tenant schedules of the catalogue's deployments, kept in step with the connected tenants.

Each deployment with a ``cron`` (``tasks/catalog.py``) has one schedule per tenant: the cron
in ``SCHEDULE_TIMEZONE``, the tenant's block name as the ``tenant`` parameter and the slug
``<tenant>-<deployment>``. ``deployments/serve.py`` builds the same schedules (same slugs) from the
tenant blocks when serving starts, so a restart updates them in place instead of adding twins;
onboarding adds a new tenant's schedules at once and offboarding removes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import get_run_logger, task

from tasks.catalog import CATALOG, SCHEDULE_TIMEZONE, DeploymentSpec


def schedule_slug(tenant: str, deployment: str) -> str:
    """The slug of ``tenant``'s schedule on ``deployment`` (unique per deployment)."""
    return f"{tenant}-{deployment}"


def tenant_schedule(item: DeploymentSpec, tenant: str) -> Any:
    """``tenant``'s schedule for a catalogue deployment with a cron (a ``prefect.schedules.Schedule``)."""
    from prefect.schedules import Cron

    assert item.cron is not None
    return Cron(
        item.cron,
        timezone=SCHEDULE_TIMEZONE,
        parameters={"tenant": tenant},
        slug=schedule_slug(tenant, item.name),
    )


def _is_tenants(schedule: Any, tenant: str, slug: str) -> bool:
    return bool(schedule.slug == slug or (schedule.slug is None and schedule.parameters == {"tenant": tenant}))


def _deployment_id(client: Any, name: str) -> Any:
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_deployment_by_name(f"{name}/{name}").id
    except ObjectNotFound:
        return None


@task(name="add-tenant-schedules", retries=2, retry_delay_seconds=2)
def add_tenant_schedules(tenant: str) -> list[str]:
    """Give ``tenant`` its schedule on every catalogue deployment with a cron; idempotent.

    A schedule already there (same slug, or an older unnamed one with this tenant's parameters)
    is left as is, or updated when its cron or timezone changed. Deployments that are not on the
    server (nothing serves them) are skipped. Returns the slugs created or updated.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule

    log = get_run_logger()
    changed: list[str] = []
    with get_client(sync_client=True) as client:
        for item in CATALOG:
            if not item.cron:
                continue
            deployment_id = _deployment_id(client, item.name)
            if deployment_id is None:
                log.info("deployment %s is not on the server: no schedule for %s", item.name, tenant)
                continue
            slug = schedule_slug(tenant, item.name)
            wanted = CronSchedule(cron=item.cron, timezone=SCHEDULE_TIMEZONE)
            have = [s for s in client.read_deployment_schedules(deployment_id) if _is_tenants(s, tenant, slug)]
            if not have:
                client.create_deployment_schedules(
                    deployment_id,
                    [DeploymentScheduleCreate(schedule=wanted, active=True, parameters={"tenant": tenant}, slug=slug)],
                )
                changed.append(slug)
                continue
            current = have[0].schedule
            if getattr(current, "cron", None) != wanted.cron or getattr(current, "timezone", None) != wanted.timezone:
                client.update_deployment_schedule(deployment_id, have[0].id, schedule=wanted)
                changed.append(slug)
    log.info("schedules for %s: %d added or updated", tenant, len(changed))
    return changed


@task(name="remove-tenant-schedules", retries=2, retry_delay_seconds=2)
def remove_tenant_schedules(tenant: str) -> list[str]:
    """Remove ``tenant``'s schedules from every catalogue deployment; returns the removed slugs."""
    removed = _delete_schedules(lambda s, name: _is_tenants(s, tenant, schedule_slug(tenant, name)))
    get_run_logger().info("schedules for %s: %d removed", tenant, len(removed))
    return removed


def prune_schedules(tenants: list[str]) -> list[str]:
    """Remove the per-tenant schedules of tenants not in ``tenants`` (their block is gone).

    Serving updates schedules by slug and leaves others alone, so a tenant whose block was deleted
    without offboarding would keep its schedules; ``deployments/serve.py`` prunes them on start.
    """
    keep = set(tenants)
    return _delete_schedules(lambda s, name: "tenant" in s.parameters and s.parameters["tenant"] not in keep)


def _delete_schedules(which: Callable[[Any, str], bool]) -> list[str]:
    """Delete the catalogue deployments' schedules ``which(schedule, deployment)`` picks."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    removed: list[str] = []
    with get_client(sync_client=True) as client:
        for item in CATALOG:
            deployment_id = _deployment_id(client, item.name)
            if deployment_id is None:
                continue
            for schedule in client.read_deployment_schedules(deployment_id):
                if which(schedule, item.name):
                    try:
                        client.delete_deployment_schedule(deployment_id, schedule.id)
                    except ObjectNotFound:
                        pass  # removed meanwhile
                    removed.append(schedule.slug or f"{item.name}:{schedule.id}")
    return removed
