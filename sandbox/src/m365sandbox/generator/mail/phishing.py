"""Phishing mail: one lure as a mailbox receives it, and a campaign that reaches several mailboxes
with one Internet message id (some copies already moved to a user folder)."""

from __future__ import annotations

from datetime import datetime, timedelta

from m365sandbox.generator.common import Json, days_before
from m365sandbox.generator.content import Phish, make_phish
from m365sandbox.generator.mail.context import MailContext
from m365sandbox.generator.mail.headers import message_headers
from m365sandbox.generator.mail.message import conversation_id, deliver, make_message


def _phish_headers(c: MailContext, p: Phish, to: list[tuple[str, str]], received: datetime, imid: str) -> list[Json]:
    return message_headers(
        c, internal=False, frm=(p.from_name, p.from_addr), to=to, subject=p.subject, sent=received, imid=imid,
        spf=p.spf, dkim=p.dkim, dmarc=p.dmarc, reply_to=p.reply_to,
        ctype="multipart/mixed" if p.attachments else "multipart/alternative",
    )


def phish_message(
    c: MailContext,
    mid: str,
    p: Phish,
    to: list[tuple[str, str]],
    received: datetime,
    folder: str,
    imid: str | None = None,
    headers: list[Json] | None = None,
    conv: str | None = None,
) -> Json:
    """Lure ``p`` in mailbox ``mid``'s ``folder`` (a campaign passes its shared id, headers, thread)."""
    imid = imid or c.imid(p.from_addr.split("@")[-1])
    headers = headers or _phish_headers(c, p, to, received, imid)
    return make_message(
        c, mid, folder, subject=p.subject, frm=(p.from_name, p.from_addr), to=to, html=p.html,
        received=received, headers=headers, imid=imid, conversation=conv or conversation_id(c.rng),
        reply_to=p.reply_to, attachments=p.attachments, is_read=c.rng.random() < 0.3,
    )


def campaign(c: MailContext) -> None:
    """The same phishing message (one internetMessageId, one link) in several mailboxes."""
    rng, d = c.rng, c.d
    targets = rng.sample(d.people, min(len(d.people), max(3, min(12, len(d.people) // 5))))
    p = make_phish(rng, tenant_domain=d.domain, user_name="Colleague Name", executive=None)
    p.html = p.html.replace("Dear Colleague,", "Dear user,")
    to = [c.user_addr(t) for t in targets]
    received = days_before(rng, c.start, 10, 2)
    imid = c.imid(p.from_addr.split("@")[-1])
    headers = _phish_headers(c, p, to, received, imid)
    conv = conversation_id(rng)
    copies = []
    for i, t in enumerate(targets):
        folder = c.folders(t)["projects" if i % 3 == 1 else "inbox"]
        msg = phish_message(c, t, p, to, received + timedelta(seconds=i), folder, imid, headers, conv)
        deliver(c, t, msg, False)
        copies.append((t, msg["id"]))
    c.truth.campaigns[imid] = copies
    c.truth.malicious_internet_message_ids.add(imid)
