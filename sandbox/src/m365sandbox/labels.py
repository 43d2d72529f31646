"""The labelled messages of a tenant: what the generator planted, as an evaluation input.

Served at ``GET /_sandbox/tenants/{tid}/labels`` so a scan can report its recall and false
positives against the sandbox's ground truth without the product importing the sandbox. Every
message the generator labelled (planted or real phishing, benign or real legitimate mail) is
listed once per mailbox copy, wherever it sits now: a move keeps the seed message underneath, so
quarantined or deleted copies are still found, with ``deleted`` telling whether the copy is in
Recoverable Items now.
"""

from __future__ import annotations

from typing import Any

from m365sandbox.state import TenantState

Json = dict[str, Any]


def labelled_messages(t: TenantState) -> list[Json]:
    """``internet_message_id``, ``message_id`` (the id at generation), ``mailbox_id``, ``received``,
    ``label`` (``phishing``/``legitimate``), ``source`` (``generated``/``real``) and ``deleted``."""
    truth = t.truth
    out: list[Json] = []
    with t.lock:
        mailboxes = list(t.mailboxes.items())
    for mailbox_id, mb in mailboxes:
        with mb.lock:
            for item in list(mb.items.values()):
                original = str(item.base.get("id") or "")
                if original in truth.malicious_message_ids:
                    label = "phishing"
                elif original in truth.benign_message_ids:
                    label = "legitimate"
                else:
                    continue
                out.append({
                    "internet_message_id": item.base.get("internetMessageId"),
                    "message_id": original,
                    "mailbox_id": mailbox_id,
                    "received": item.base.get("receivedDateTime"),
                    "label": label,
                    "source": "real" if original in truth.labels else "generated",
                    "deleted": mb.in_dumpster(item.folder),
                })
    return out
