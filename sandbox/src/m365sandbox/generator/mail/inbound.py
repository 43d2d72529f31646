"""Mail from outside the tenant: newsletters, vendors' invoices, partners' notes, phishing at the
configured rate, and real ``.eml`` mail when given."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from m365sandbox.eml import eml_to_graph_message
from m365sandbox.generator.common import PARTNER_DOMAINS, change_key, days_before, exchange_id
from m365sandbox.generator.content import NEWSLETTERS, VENDORS, benign_attachment, make_phish
from m365sandbox.generator.mail.context import MailContext, RealMail
from m365sandbox.generator.mail.headers import message_headers
from m365sandbox.generator.mail.message import conversation_id, make_message
from m365sandbox.generator.mail.phishing import phish_message

NEWSLETTER_SUBJECTS = ("This week's highlights", "Your monthly digest", "Upcoming webinars",
                       "New features this month", "Industry roundup")


@dataclass
class Draft:
    """What a kind of inbound mail decides before it becomes a message."""

    frm: tuple[str, str]
    subject: str
    body: str
    folder: str
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    extra_headers: list[tuple[str, str]] = field(default_factory=list)


def _newsletter(c: MailContext, folders: dict[str, str]) -> Draft:
    rng = c.rng
    sender_name, dom = rng.choice(NEWSLETTERS)
    subject = rng.choice(NEWSLETTER_SUBJECTS)
    body = (
        f"<html><body><h1>{sender_name}</h1><p>{subject}: read the latest articles on our site.</p>"
        f'<p><a href="https://{dom}/articles/{rng.randint(100, 999)}">Read more</a></p>'
        f'<p style="font-size:10px"><a href="https://{dom}/unsubscribe">Unsubscribe</a></p></body></html>'
    )
    extra = [
        ("List-Unsubscribe", f"<https://{dom}/unsubscribe?u={rng.getrandbits(32):x}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Precedence", "bulk"),
    ]
    folder = folders["newsletters"] if rng.random() < 0.3 else folders["inbox"]
    return Draft((sender_name, f"newsletter@{dom}"), subject, body, folder, extra_headers=extra)


def _invoice(c: MailContext, folders: dict[str, str]) -> Draft:
    rng = c.rng
    vendor, dom = rng.choice(VENDORS)
    n = rng.randint(10000, 99999)
    body = (
        f"<html><body><p>Dear customer,</p><p>Please find attached invoice {n}, due in 30 days "
        f"under the usual terms. Contact us at billing@{dom} with any questions.</p>"
        f"<p>Kind regards,<br>{vendor}</p></body></html>"
    )
    atts = [benign_attachment(rng, f"Invoice_{n}")] if rng.random() < 0.7 else []
    folder = folders["receipts"] if rng.random() < 0.25 else folders["inbox"]
    return Draft((f"{vendor} Billing", f"billing@{dom}"), f"Invoice {n} from {vendor}", body, folder, atts)


def _partner_note(c: MailContext, folders: dict[str, str], name: str) -> Draft:
    rng = c.rng
    partner = rng.choice(PARTNER_DOMAINS)
    frm = (
        f"{rng.choice(('Alex', 'Sam', 'Robin', 'Chris'))} {rng.choice(('Moreno', 'Berg', 'Walsh'))}",
        f"{rng.choice(('alex', 'sam', 'robin', 'chris'))}@{partner}",
    )
    topic = rng.choice(("Contract renewal", "Meeting next week", "Project kickoff", "Site visit"))
    subject = rng.choice((f"Invitation: {topic}", f"RE: {topic}", topic))
    body = (
        f"<html><body><p>Hi {name.split(' ')[0]},</p><p>Regarding {topic.lower()}: would Tuesday at 10:00 "
        f"work for you? I have sent a calendar invitation.</p><p>Best,<br>{frm[0]}</p></body></html>"
    )
    return Draft(frm, subject, body, folders["inbox"])


def _phishing(c: MailContext, mid: str, name: str, addr: str, received: datetime, folder: str) -> None:
    rng, d = c.rng, c.d
    ex = rng.choice(d.executives) if d.executives else None
    p = make_phish(rng, tenant_domain=d.domain, user_name=name,
                   executive=c.user_addr(ex) if ex and ex != mid else None)
    msg = phish_message(c, mid, p, [(name, addr)], received, folder)
    c.mailboxes[mid].messages.append(msg)
    c.truth.malicious_message_ids.add(msg["id"])
    c.truth.malicious_internet_message_ids.add(msg["internetMessageId"])


def inbound_message(c: MailContext, mid: str, phishing_rate: float, real: RealMail | None) -> None:
    """One message from outside into mailbox ``mid``."""
    rng = c.rng
    if real is not None and real.items and rng.random() < real.share:
        real_message(c, mid, real)
        return
    name, addr = c.user_addr(mid)
    received = days_before(rng, c.start, 60)
    folders = c.folders(mid)
    if rng.random() < phishing_rate:
        _phishing(c, mid, name, addr, received, folders["inbox"])
        return
    kind = rng.random()
    draft = (_newsletter(c, folders) if kind < 0.4 else _invoice(c, folders) if kind < 0.75
             else _partner_note(c, folders, name))
    imid = c.imid(draft.frm[1].split("@")[1])
    headers = message_headers(c, internal=False, frm=draft.frm, to=[(name, addr)], subject=draft.subject,
                              sent=received, imid=imid,
                              ctype="multipart/mixed" if draft.attachments else "multipart/alternative",
                              extra=draft.extra_headers)
    msg = make_message(c, mid, draft.folder, subject=draft.subject, frm=draft.frm, to=[(name, addr)],
                       html=draft.body, received=received, headers=headers, imid=imid,
                       conversation=conversation_id(rng), attachments=draft.attachments)
    c.mailboxes[mid].messages.append(msg)
    c.truth.benign_message_ids.add(msg["id"])


def real_message(c: MailContext, mid: str, real: RealMail) -> None:
    """A real message of the corpus, addressed to mailbox ``mid`` (its people remapped to the
    tenant's), with the corpus label in the ground truth; a second delivery of one Message-ID to a
    mailbox is dropped, as Exchange drops it."""
    rng = c.rng
    _name, raw, label = real.items[rng.randrange(len(real.items))]
    _, addr = c.user_addr(mid)
    people = c.d.people

    def remap(original: str) -> str:
        if not people:
            return addr
        h = sum(original.encode()) % len(people)
        return c.d.by_id[people[h]]["mail"]

    received = days_before(rng, c.start, 60)
    msg, atts = eml_to_graph_message(raw, recipients_map=remap, now=received, mailbox_address=addr)
    if (mid, msg["internetMessageId"]) in c.real_delivered:
        return
    c.real_delivered.add((mid, msg["internetMessageId"]))
    msg["id"] = exchange_id(rng, c.key(mid))
    msg["parentFolderId"] = c.folders(mid)["inbox"]
    msg["changeKey"] = change_key(rng)
    msg["conversationId"] = conversation_id(rng)
    msg["isRead"] = rng.random() < 0.5
    for a in atts:
        a["id"] = exchange_id(rng, c.key(mid), b"\x12\x00")
    msg["attachments"] = atts
    c.mailboxes[mid].messages.append(msg)
    if label is not None:
        c.truth.labels[msg["id"]] = label
        if label == "phishing":
            c.truth.malicious_message_ids.add(msg["id"])
            c.truth.malicious_internet_message_ids.add(msg["internetMessageId"])
        else:
            c.truth.benign_message_ids.add(msg["id"])
