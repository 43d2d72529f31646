"""Recall of internal mail: find every internal copy of a sent message (and internal forwards), act once.

* :mod:`~mailwarden.recall.plan` -- check the sender, find the sent message, expand recipients, forwards
  (the :class:`RecallPlan`, each :class:`Forward`);
* :mod:`~mailwarden.recall.act` -- recall the copies in one mailbox (audited via ``mailwarden.mailbox``);
* :mod:`~mailwarden.recall.report` -- per-recipient rows, Markdown summary, notice text.

No Prefect here: the flow ``recall-message`` (flows/recall.py) builds on this.
"""

from mailwarden.recall.act import RECALL_SCOPE, STATUS_TEXT, RecallOptions, RecipientResult, recall_from_mailbox
from mailwarden.recall.plan import (
    RECALL_ACTIONS,
    Expansion,
    Forward,
    MessageRef,
    RecallPlan,
    RecallRejected,
    Target,
    check_sender,
    expand_recipients,
    find_forwards,
    find_sent_message,
    is_forward_of,
    recipients_of,
)
from mailwarden.recall.report import RecallReport, external_results, notice_text, summary_markdown

__all__ = [
    "RECALL_ACTIONS",
    "RECALL_SCOPE",
    "STATUS_TEXT",
    "Expansion",
    "Forward",
    "MessageRef",
    "RecallOptions",
    "RecallPlan",
    "RecallRejected",
    "RecallReport",
    "RecipientResult",
    "Target",
    "check_sender",
    "expand_recipients",
    "external_results",
    "find_forwards",
    "find_sent_message",
    "is_forward_of",
    "notice_text",
    "recall_from_mailbox",
    "recipients_of",
    "summary_markdown",
]
