"""prefect.yaml declares the deployments of tasks/catalog.py, as the catalogue has them.

``mailwarden serve`` builds its deployments from the catalogue and ``prefect deploy --all`` from
prefect.yaml: where the two disagree (a cron, a time zone, a concurrency limit), the same flow
would run differently depending on how it was deployed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.catalog import CATALOG, SCHEDULE_TIMEZONE, spec

PREFECT_YAML = Path(__file__).resolve().parents[2] / "prefect.yaml"


def _deployments() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(PREFECT_YAML.read_text())
    return {d["name"]: d for d in doc["deployments"]}


def test_prefect_yaml_declares_exactly_the_catalogue() -> None:
    assert list(_deployments()) == [item.name for item in CATALOG]


@pytest.mark.parametrize("name", [item.name for item in CATALOG])
def test_each_deployment_matches_its_catalogue_entry(name: str) -> None:
    declared, item = _deployments()[name], spec(name)
    assert declared["entrypoint"] == item.entrypoint
    assert declared["description"] == item.description
    assert declared["tags"] == ["mailwarden", *item.tags]
    assert declared.get("concurrency_limit") == item.concurrency_limit
    schedules = declared.get("schedules") or []
    assert [s["cron"] for s in schedules] == ([item.cron] if item.cron else [])


@pytest.mark.parametrize("name", [item.name for item in CATALOG if item.cron])
def test_schedules_use_the_catalogue_time_zone_and_wait_for_a_real_tenant(name: str) -> None:
    for schedule in _deployments()[name]["schedules"]:
        assert schedule["timezone"] == SCHEDULE_TIMEZONE
        assert schedule["active"] is False  # the placeholder tenant must not run by itself
