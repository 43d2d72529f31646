"""Threat response: find every copy of a threat in the tenant's mailboxes, act on each once, undo.

* :mod:`~mailwarden.response.search` -- :class:`ThreatQuery`, the copies in one mailbox, the search;
* :mod:`~mailwarden.response.act` -- the policy's say on acting unattended, acting on every copy, restore;
* :mod:`~mailwarden.response.report` -- the run's result and summary.

No Prefect here: the flows ``threat-response`` and ``restore`` (flows/threat_response.py) build on this.
"""

from mailwarden.response.act import (
    RESPONSE_ACTOR,
    CopyResult,
    RestoreResult,
    act_on_copies,
    check_unattended,
    counts,
    restore_actions,
    why_ask,
)
from mailwarden.response.report import ThreatResponse, per_side_lines
from mailwarden.response.search import (
    Copy,
    MailboxSearch,
    ResponseAction,
    ThreatQuery,
    ThreatSearch,
    by_mailbox,
    default_scope,
    search_mailbox,
)

__all__ = [
    "RESPONSE_ACTOR",
    "Copy",
    "CopyResult",
    "MailboxSearch",
    "ResponseAction",
    "RestoreResult",
    "ThreatQuery",
    "ThreatResponse",
    "ThreatSearch",
    "act_on_copies",
    "by_mailbox",
    "check_unattended",
    "counts",
    "default_scope",
    "per_side_lines",
    "restore_actions",
    "search_mailbox",
    "why_ask",
]
