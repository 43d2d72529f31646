"""Recalling from one mailbox against the sandbox: act once, read copies, gone copies, bad mailboxes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailwarden.graph import RetryPolicy
from mailwarden.recall import recall_from_mailbox
from mailwarden.store import Store


@pytest.fixture
def setup(tenant_factory: Any, tmp_path: Path) -> Iterator[tuple[Any, Any, Store, dict[str, Any]]]:
    block, state = tenant_factory(users=12, messages_per_mailbox=1)
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    with block.graph_client("basic", retry=RetryPolicy(max_attempts=2, sleep=lambda s: None)) as client:
        yield client, state, store, state.truth.recall_fixtures[0]


def _recall(client: Any, store: Store, state: Any, mailbox: str, imid: str, **kw: Any) -> list[Any]:
    kw.setdefault("action", "quarantine")
    kw.setdefault("include_read", True)
    with store.session() as s:
        return recall_from_mailbox(client, s, tenant_id=state.id, mailbox_id=mailbox, recipient=mailbox,
                                   internet_message_id=imid, actor="test", reason="test", approval="auto",
                                   flow_run_id=None, **kw)


def test_moved_copy_is_recalled_once_and_reported_already_recalled_after(setup: Any) -> None:
    client, state, store, fx = setup
    mailbox, _mid, folder = fx["moved"]
    first = _recall(client, store, state, mailbox, fx["internet_message_id"], folders={folder: "Inbox/Projects"})
    assert [(r.status, r.folder) for r in first] == [("recalled", "Inbox/Projects")]
    again = _recall(client, store, state, mailbox, fx["internet_message_id"])
    assert [r.status for r in again] == ["already_recalled"]


def test_soft_deleted_copy_is_invisible_yet_a_rerun_reports_it_already_recalled(setup: Any) -> None:
    client, state, store, fx = setup
    mailbox = fx["copies"][-1][0]
    assert [r.status for r in _recall(client, store, state, mailbox, fx["internet_message_id"],
                                      action="soft_delete")] == ["recalled"]
    assert [r.status for r in _recall(client, store, state, mailbox, fx["internet_message_id"],
                                      action="soft_delete")] == ["already_recalled"]
    # a different action was never done: the copy is simply gone
    assert [r.status for r in _recall(client, store, state, mailbox, fx["internet_message_id"],
                                      action="hard_delete")] == ["not_found"]


def test_read_copy_is_left_alone_unless_include_read(setup: Any) -> None:
    client, state, store, fx = setup
    mailbox, mid = fx["copies"][0]
    client.patch(f"/users/{mailbox}/messages/{mid}", {"isRead": True})
    left = _recall(client, store, state, mailbox, fx["internet_message_id"], include_read=False)
    assert [r.status for r in left] == ["read_left_alone"]
    assert state.mailboxes[mailbox].items[mid].folder == fx["moved"][2]  # untouched
    taken = _recall(client, store, state, mailbox, fx["internet_message_id"], include_read=True)
    assert [r.status for r in taken] == ["recalled"]


def test_mailbox_that_404s_is_reported_failed_not_raised(setup: Any, embedded: Any) -> None:
    client, state, store, fx = setup
    mailbox = fx["copies"][1][0]
    embedded.sandbox.faults.inject(tenant=state.id, kind="mailbox_404", mailbox=mailbox)
    out = _recall(client, store, state, mailbox, fx["internet_message_id"])
    assert [r.status for r in out] == ["failed"] and "NotFound" in out[0].detail
