"""Per-tenant schedules: added when a tenant connects, removed when it leaves, never duplicated
by a second onboarding or by the serving process restarting (real Prefect server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tasks.catalog import CATALOG, SCHEDULE_TIMEZONE

pytestmark = pytest.mark.usefixtures("prefect_harness")

CRON_DEPLOYMENTS = [item.name for item in CATALOG if item.cron]
NOT_SERVED = "delta-sweep"  # left off the server: onboarding must skip it, not fail
SERVED = [name for name in CRON_DEPLOYMENTS if name != NOT_SERVED]


def _schedules(name: str) -> list[Any]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"{name}/{name}")
        return list(client.read_deployment_schedules(deployment.id))


def _of(name: str, tenant: str) -> list[Any]:
    return [s for s in _schedules(name) if s.parameters == {"tenant": tenant}]


def _serve(tenants: list[str]) -> None:
    """What ``deployments/serve.py`` does when it starts: apply the catalogue's deployments."""
    from deployments.serve import build_deployments

    for deployment in build_deployments(tenants=tenants, only=SERVED):
        deployment.apply()


@pytest.fixture(scope="module")
def served() -> Iterator[None]:
    """The catalogue's scheduled deployments on the server, with no tenant yet; removed afterwards."""
    from prefect.client.orchestration import get_client

    _serve([])
    yield
    with get_client(sync_client=True) as client:
        for name in SERVED:
            client.delete_deployment(client.read_deployment_by_name(f"{name}/{name}").id)


def _tenant() -> str:
    return f"sched-{uuid.uuid4().hex[:8]}-example"


def test_onboarding_adds_each_schedule_once_with_the_tenant_and_timezone(served: None) -> None:
    from tasks.schedules import add_tenant_schedules, schedule_slug

    tenant = _tenant()
    added = add_tenant_schedules(tenant)
    assert sorted(added) == sorted(schedule_slug(tenant, name) for name in SERVED)
    for item in CATALOG:
        if item.name not in SERVED:
            continue
        mine = _of(item.name, tenant)
        assert len(mine) == 1, mine
        assert mine[0].slug == schedule_slug(tenant, item.name)
        assert mine[0].active
        assert mine[0].schedule.cron == item.cron
        assert mine[0].schedule.timezone == SCHEDULE_TIMEZONE
    assert add_tenant_schedules(tenant) == []  # an update run adds nothing
    assert all(len(_of(name, tenant)) == 1 for name in SERVED)


def test_offboarding_removes_only_that_tenants_schedules(served: None) -> None:
    from tasks.schedules import add_tenant_schedules, remove_tenant_schedules

    leaving, staying = _tenant(), _tenant()
    add_tenant_schedules(leaving)
    add_tenant_schedules(staying)
    assert len(remove_tenant_schedules(leaving)) == len(SERVED)
    assert all(_of(name, leaving) == [] for name in SERVED)
    assert all(len(_of(name, staying)) == 1 for name in SERVED)
    assert remove_tenant_schedules(leaving) == []


def test_serve_restart_keeps_one_schedule_per_tenant(served: None) -> None:
    from tasks.schedules import add_tenant_schedules

    onboarded, known = _tenant(), _tenant()
    add_tenant_schedules(onboarded)  # connected while serving
    before = {name: _of(name, onboarded)[0].id for name in SERVED}
    _serve([onboarded, known])  # restart: schedules rebuilt from the tenant blocks
    _serve([onboarded, known])
    for name in SERVED:
        assert len(_of(name, onboarded)) == 1
        assert len(_of(name, known)) == 1
        assert _of(name, onboarded)[0].id == before[name]  # updated in place by slug
    assert add_tenant_schedules(known) == []  # onboarding again after the restart adds nothing


def test_an_older_unnamed_schedule_of_the_tenant_is_not_duplicated(served: None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule

    from tasks.catalog import spec
    from tasks.schedules import add_tenant_schedules, remove_tenant_schedules

    tenant, name = _tenant(), SERVED[0]
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"{name}/{name}")
        client.create_deployment_schedules(
            deployment.id,
            [DeploymentScheduleCreate(schedule=CronSchedule(cron=str(spec(name).cron), timezone=SCHEDULE_TIMEZONE),
                                      parameters={"tenant": tenant})],
        )
    added = add_tenant_schedules(tenant)
    assert len(_of(name, tenant)) == 1
    assert len(added) == len(SERVED) - 1
    remove_tenant_schedules(tenant)
    assert _of(name, tenant) == []


def test_serving_prunes_schedules_of_tenants_whose_block_is_gone(served: None) -> None:
    from tasks.schedules import add_tenant_schedules, prune_schedules

    gone, kept = _tenant(), _tenant()
    add_tenant_schedules(gone)
    add_tenant_schedules(kept)
    removed = prune_schedules([kept])
    assert len([slug for slug in removed if slug.startswith(gone)]) == len(SERVED)
    assert all(_of(name, gone) == [] and len(_of(name, kept)) == 1 for name in SERVED)
