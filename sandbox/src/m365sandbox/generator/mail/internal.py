"""Mail between colleagues: the sender's Sent Items copy and each internal recipient's Inbox copy."""

from __future__ import annotations

from datetime import timedelta

from m365sandbox.generator.common import PARTNER_DOMAINS, days_before
from m365sandbox.generator.content import benign_attachment
from m365sandbox.generator.mail.context import MailContext
from m365sandbox.generator.mail.headers import message_headers
from m365sandbox.generator.mail.message import conversation_id, deliver, make_message

TOPICS = ("Budget review", "Team offsite", "Quarterly planning", "Customer follow-up", "Release notes",
          "Hiring update", "Office move", "Project status", "Training schedule", "Vendor shortlist")
FOLLOW_UPS = ("see my comments below.", "can we meet Thursday?", "the draft is ready for review.")


def _recipients(c: MailContext, uid: str) -> tuple[list[str], list[tuple[str, str]]]:
    """One or two colleagues (ids), and everyone addressed: sometimes a partner outside too."""
    rng, d = c.rng, c.d
    peers = [p for p in rng.sample(d.people, min(3, len(d.people))) if p != uid][: rng.randint(1, 2)]
    to = [c.user_addr(p) for p in peers]
    if rng.random() < 0.2:
        to.append((
            f"{rng.choice(('Jo', 'Max', 'Kim', 'Ash'))} {rng.choice(('Reyes', 'Lund', 'Okoro'))}",
            f"contact{rng.randint(1, 99)}@{rng.choice(PARTNER_DOMAINS)}",
        ))
    return peers, to


def internal_message(c: MailContext, uid: str) -> tuple[str, list[tuple[str, str]]]:
    """One message from ``uid`` to colleagues; returns its Internet message id and recipients."""
    rng, d = c.rng, c.d
    peers, to = _recipients(c, uid)
    topic = rng.choice(TOPICS)
    subject = rng.choice((topic, f"RE: {topic}", f"Meeting: {topic}", f"Notes from {topic.lower()}"))
    frm = c.user_addr(uid)
    body = (
        f"<html><body><p>Hi {to[0][0].split(' ')[0]},</p><p>Following up on {topic.lower()}: "
        f"{rng.choice(FOLLOW_UPS)}</p><p>Thanks,<br>{frm[0]}</p></body></html>"
    )
    sent = days_before(rng, c.start, 60)
    imid, conv = c.imid(d.domain), conversation_id(rng)
    atts = [benign_attachment(rng, topic.replace(" ", "_"))] if rng.random() < 0.2 else []
    headers = message_headers(c, internal=True, frm=frm, to=to, subject=subject, sent=sent, imid=imid)
    sent_copy = make_message(c, uid, c.folders(uid)["sentitems"], subject=subject, frm=frm, to=to, html=body,
                             received=sent, headers=[], imid=imid, conversation=conv, attachments=atts,
                             is_read=True)
    deliver(c, uid, sent_copy, True)
    for p in peers:
        copy = make_message(c, p, c.folders(p)["inbox"], subject=subject, frm=frm, to=to, html=body,
                            received=sent + timedelta(seconds=3), headers=headers, imid=imid,
                            conversation=conv, attachments=atts)
        deliver(c, p, copy, True)
    return imid, to
