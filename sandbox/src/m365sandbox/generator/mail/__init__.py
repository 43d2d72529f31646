"""The mail half of the tenant generator: folders, internal mail with sent items, benign and
phishing inbound mail, a phishing campaign across mailboxes, the recall fixture, and real
``.eml`` mail converted with :mod:`m365sandbox.eml`.

Modules: ``folders`` (the folder tree), ``context`` (the shared state, real mail), ``headers``
(Internet headers), ``message`` (the Graph message), ``internal``, ``inbound``, ``phishing``,
``recall`` (the kinds of mail). Every random choice comes from the context's stream, in a fixed
order: a seed always yields the same mail.
"""

from __future__ import annotations

import random
from datetime import datetime

from m365sandbox.generator.directory import Directory
from m365sandbox.generator.mail.context import MailContext, RealMail
from m365sandbox.generator.mail.folders import USER_FOLDERS, WELL_KNOWN_FOLDERS, ensure_folders
from m365sandbox.generator.mail.inbound import inbound_message
from m365sandbox.generator.mail.internal import internal_message
from m365sandbox.generator.mail.phishing import campaign
from m365sandbox.generator.mail.recall import recall_fixture
from m365sandbox.seed import GroundTruth, MailboxSeed

__all__ = ["USER_FOLDERS", "WELL_KNOWN_FOLDERS", "RealMail", "build_mailboxes", "ensure_folders"]


def build_mailboxes(
    rng: random.Random,
    d: Directory,
    truth: GroundTruth,
    *,
    start: datetime,
    messages_per_mailbox: int,
    phishing_rate: float,
    real: RealMail | None,
) -> dict[str, MailboxSeed]:
    """A :class:`MailboxSeed` per mailbox; folders only where there is mail (the sandbox adds the
    well-known ones itself), so 100,000 empty mailboxes stay cheap."""
    mailboxes = {mid: MailboxSeed() for mid in d.mailbox_ids}
    if messages_per_mailbox <= 0:
        return mailboxes
    c = MailContext(rng, d, truth, start, mailboxes)
    recall_fixture(c)
    campaign(c)
    n_sent = max(1, messages_per_mailbox // 8)
    for uid in d.people:
        for _ in range(n_sent):
            internal_message(c, uid)
    for mid in d.mailbox_ids:
        for _ in range(max(0, messages_per_mailbox - c.counts[mid])):
            inbound_message(c, mid, phishing_rate, real)
    return mailboxes
