"""The sandbox's labelled messages (``/_sandbox/tenants/{tid}/labels``): ground truth that survives moves."""

from __future__ import annotations

from m365sandbox import Sandbox
from m365sandbox.control import labelled_messages
from m365sandbox.generator import generate_tenant


def test_labels_list_every_planted_copy_and_follow_moves_into_the_dumpster() -> None:
    sb = Sandbox(profile="fast")
    state = sb.add_tenant(generate_tenant(seed=21, users=12, messages_per_mailbox=6, phishing_rate=0.3))
    labels = labelled_messages(state)
    truth = state.truth
    assert {x["message_id"] for x in labels if x["label"] == "phishing"} == truth.malicious_message_ids
    assert {x["message_id"] for x in labels if x["label"] == "legitimate"} == truth.benign_message_ids
    assert all(x["source"] == "generated" and not x["deleted"] and x["internet_message_id"] for x in labels)

    victim = next(x for x in labels if x["label"] == "phishing")
    mb = state.mailboxes[victim["mailbox_id"]]
    moved = mb.delete(victim["message_id"])  # a new id, in Recoverable Items
    again = {x["message_id"]: x for x in labelled_messages(state)}
    assert moved.id != victim["message_id"] and again[victim["message_id"]]["deleted"] is True
    assert again[victim["message_id"]]["internet_message_id"] == victim["internet_message_id"]
    assert len(again) == len({x["message_id"] for x in labels})
