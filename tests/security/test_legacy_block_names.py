"""Tenants saved under the old, colliding block names keep working, and only as themselves."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _register(tenant_id: str, domain: str, block_name: str) -> None:
    from mailwarden.store.repositories import upsert_tenant
    from tasks.common import store_for

    with store_for(None).session() as s:
        upsert_tenant(s, tenant_id, domain, block_name=block_name)
        s.commit()


def test_a_hyphenated_domain_saved_under_its_old_name_loads_by_domain(tenant_factory: Any) -> None:
    from tasks.common import load_tenant

    block, state = tenant_factory(users=10, domain="legacy-names.example")
    block.save("legacy-names-example", overwrite=True)  # the name the old mapping gave it
    _register(state.id, state.domain, "legacy-names-example")
    assert load_tenant("legacy-names.example").tenant_id == state.id


def test_a_store_row_pointing_at_another_tenants_block_loads_nothing(tenant_factory: Any) -> None:
    from tasks.common import load_tenant

    _, my_state = tenant_factory(users=10, domain="mine-x.example")
    other, _ = tenant_factory(users=10, domain="other.example")
    other.save("mine-x-example", overwrite=True)  # a block of another tenant under the old name
    _register(my_state.id, my_state.domain, "mine-x-example")
    with pytest.raises(ValueError, match="onboard it first"):
        load_tenant("mine-x.example")
