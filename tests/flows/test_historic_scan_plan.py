"""Flow ``historic-scan``: a bad ``mailboxes`` value fails the plan at once, without retries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("prefect_harness")
SINCE = datetime(2000, 1, 1, tzinfo=UTC)


def test_an_unknown_mailbox_fails_the_scan_with_a_clear_error_and_the_plan_runs_once(tenant_factory: Any) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.historic_scan import historic_scan
    from flows.reconciliation import reconcile_licenses

    block, _ = tenant_factory(users=10, messages_per_mailbox=2)
    block.save(block.block_name, overwrite=True)
    reconcile_licenses(tenant=block.primary_domain)  # the address book the plan reads
    unknown = f"nobody@{block.primary_domain}"

    state = historic_scan(tenant=block.primary_domain, since=SINCE, mailboxes=[unknown],
                          retry_delay_seconds=0, return_state=True)

    assert state.is_failed()
    with pytest.raises(ValueError, match=f"'{unknown}' is not a mailbox of {block.primary_domain}"):
        state.result()
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(flow_run_filter=run_filter)
    plans = [t for t in task_runs if t.name.startswith("plan-scan")]
    assert len(plans) == 1
    assert plans[0].run_count == 1  # input errors are not retried
    assert plans[0].state is not None and plans[0].state.is_failed()
    assert not [t for t in task_runs if t.name.startswith("scan-mailbox")]
