"""The mail half of the tenant generator: folders, internal mail with sent items, benign and
phishing inbound mail, a phishing campaign across mailboxes, the recall fixture, and real
``.eml`` mail converted with :mod:`m365sandbox.eml`."""

from __future__ import annotations

import base64
import html as htmlmod
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from m365sandbox.gen_common import (
    PARTNER_DOMAINS,
    Json,
    address,
    change_key,
    days_before,
    exchange_id,
    iso,
    rfc2822,
)
from m365sandbox.gen_content import NEWSLETTERS, VENDORS, Phish, benign_attachment, make_phish
from m365sandbox.gen_directory import Directory
from m365sandbox.seed import FolderSeed, GroundTruth, MailboxSeed

WELL_KNOWN_FOLDERS = (
    ("msgfolderroot", "Top of Information Store", None),
    ("inbox", "Inbox", "msgfolderroot"),
    ("drafts", "Drafts", "msgfolderroot"),
    ("sentitems", "Sent Items", "msgfolderroot"),
    ("deleteditems", "Deleted Items", "msgfolderroot"),
    ("junkemail", "Junk Email", "msgfolderroot"),
    ("archive", "Archive", "msgfolderroot"),
    ("outbox", "Outbox", "msgfolderroot"),
    ("conversationhistory", "Conversation History", "msgfolderroot"),
)
USER_FOLDERS = (
    ("rss feeds", "RSS Feeds", "msgfolderroot"),
    ("newsletters", "Newsletters", "inbox"),
    ("projects", "Projects", "inbox"),
    ("receipts", "Receipts", "inbox"),
)
TAG = re.compile(r"<[^>]+>")


def ensure_folders(rng: random.Random, mb: MailboxSeed) -> dict[str, str]:
    """Create the mailbox's folders once; return well-known / lower-case display name -> folder id."""
    if not mb.folders:
        key = rng.randbytes(16)
        ids: dict[str, str] = {}
        for name, display, parent in WELL_KNOWN_FOLDERS + USER_FOLDERS:
            ids[name] = exchange_id(rng, key, b"\x01\x00")
            folder = {
                "id": ids[name],
                "displayName": display,
                "parentFolderId": ids[parent] if parent else None,
                "isHidden": False,
            }
            mb.folders.append(
                FolderSeed(folder, None if name in dict.fromkeys(n for n, _, _ in USER_FOLDERS) else name)
            )
    return {fs.well_known_name or fs.folder["displayName"].lower(): fs.folder["id"] for fs in mb.folders}


@dataclass
class RealMail:
    """Real ``.eml`` messages to mix in: (name, bytes, label or None), and the share of inbound mail."""

    items: list[tuple[str, bytes, str | None]] = field(default_factory=list)
    share: float = 0.5

    @classmethod
    def load(cls, arg: str | Path | Sequence[tuple[str | Path, str]], share: float) -> RealMail:
        from m365sandbox.eml import iter_eml

        sources = [(arg, None)] if isinstance(arg, str | Path) else list(arg)
        items = [(name, raw, label) for src, label in sources for name, raw in iter_eml(src)]
        return cls(sorted(items, key=lambda t: t[0]), share)


class _Ctx:
    """What every message builder needs."""

    def __init__(
        self,
        rng: random.Random,
        d: Directory,
        truth: GroundTruth,
        start: datetime,
        mailboxes: dict[str, MailboxSeed],
    ) -> None:
        self.rng, self.d, self.truth, self.start, self.mailboxes = rng, d, truth, start, mailboxes
        self.keys: dict[str, bytes] = {}
        self.real_delivered: set[tuple[str, str]] = set()
        """(mailbox, internetMessageId) of the real mail delivered so far."""

    def folders(self, mid: str) -> dict[str, str]:
        return ensure_folders(self.rng, self.mailboxes[mid])

    def key(self, mid: str) -> bytes:
        if mid not in self.keys:
            self.keys[mid] = base64.urlsafe_b64decode(self.folders(mid)["inbox"])[5:21]
        return self.keys[mid]

    def imid(self, domain: str) -> str:
        rng = self.rng
        if domain == self.d.domain:
            return (
                f"<{rng.choice(('BN8', 'MN2', 'SA1', 'DM6'))}PR{rng.randint(10, 99)}MB{rng.randint(1000, 9999)}"
                f"{base64.b32encode(rng.randbytes(10)).decode()}@{rng.choice(('BN8', 'MN2'))}PR"
                f"{rng.randint(10, 99)}MB{rng.randint(1000, 9999)}.namprd{rng.randint(10, 19)}.prod.outlook.com>"
            )
        return f"<{rng.getrandbits(64):x}.{rng.randint(1000, 99999)}@{domain}>"

    def user_addr(self, uid: str) -> tuple[str, str]:
        u = self.d.by_id[uid]
        return u["displayName"], u["mail"]


def _preview(html: str | None, text: str | None) -> str:
    raw = TAG.sub(" ", html) if html is not None else (text or "")
    return " ".join(htmlmod.unescape(raw).split())[:255]


def _headers(
    c: _Ctx,
    *,
    internal: bool,
    frm: tuple[str, str],
    to: list[tuple[str, str]],
    subject: str,
    sent: datetime,
    imid: str,
    spf: str = "pass",
    dkim: str = "pass",
    dmarc: str = "pass",
    reply_to: tuple[str, str] | None = None,
    ctype: str = "multipart/alternative",
    extra: Sequence[tuple[str, str]] = (),
) -> list[Json]:
    rng, dom = c.rng, frm[1].split("@")[-1]
    tenant_mx = f"{c.d.domain.replace('.', '-')}.mail.protection.outlook.com"
    nam = (
        f"{rng.choice(('BN8', 'MN2', 'SA1', 'DM6', 'CH3'))}PR{rng.randint(10, 99)}MB{rng.randint(1000, 9999)}"
    )
    hops: list[tuple[str, str]] = []
    t = sent + timedelta(seconds=rng.randint(1, 40))
    if internal:
        hops.append(
            (
                "Received",
                f"from {nam}.namprd{rng.randint(10, 19)}.prod.outlook.com "
                f"([fe80::{rng.getrandbits(16):x}]) by {nam}.namprd{rng.randint(10, 19)}.prod.outlook.com "
                f"([fe80::{rng.getrandbits(16):x}%5]) with mapi id 15.20.{rng.randint(7000, 8999)}.{rng.randint(10, 60)};"  # noqa: E501
                f" {rfc2822(t)}",
            )
        )
        auth = f"dkim=none (message not signed) header.d=none;dmarc=none action=none header.from={dom};"
        org = [
            ("X-MS-Exchange-Organization-AuthAs", "Internal"),
            ("X-MS-Exchange-Organization-AuthSource", f"{nam}.namprd{rng.randint(10, 19)}.prod.outlook.com"),
            ("X-MS-Exchange-Organization-SCL", "-1"),
        ]
    else:
        ip = f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randint(2, 250)}"
        mta = f"{rng.choice(('mail', 'smtp', 'mx-out', 'o1'))}.{dom}"
        hops += [
            (
                "Received",
                f"from {mta} ({ip}) by {tenant_mx.split('.')[0][:10].upper()}"
                f".mail.protection.outlook.com ({rng.choice(('10.167', '10.152'))}.{rng.randint(0, 255)}."
                f"{rng.randint(1, 254)}) with Microsoft SMTP Server (version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384)"
                f" id 15.20.{rng.randint(7000, 8999)}.{rng.randint(10, 60)}; {rfc2822(t)}",
            ),
            (
                "Received",
                f"from {nam}.namprd{rng.randint(10, 19)}.prod.outlook.com by "
                f"{nam}.namprd{rng.randint(10, 19)}.prod.outlook.com with Microsoft SMTP Server; "
                f"{rfc2822(t + timedelta(seconds=1))}",
            ),
        ]
        dkim_txt = {
            "pass": f"dkim=pass (signature was verified) header.d={dom}",
            "fail": f"dkim=fail (body hash did not verify) header.d={dom}",
            "none": "dkim=none (message not signed) header.d=none",
        }[dkim]
        comp = "pass reason=100" if dmarc == "pass" else "fail reason=001"
        dmarc_action = "none" if dmarc == "pass" else "quarantine"
        auth = (
            f"spf={spf} (sender IP is {ip}) smtp.mailfrom={dom}; {dkim_txt};dmarc={dmarc} "
            f"action={dmarc_action} header.from={dom};compauth={comp}"
        )
        verdict = {"pass": "Pass", "fail": "Fail", "softfail": "SoftFail"}.get(spf, "None")
        spf_words = "designates" if spf == "pass" else "does not designate"
        org = [
            (
                "Received-SPF",
                f"{verdict} (protection.outlook.com: domain of {dom} {spf_words} {ip} as permitted "
                f"sender) receiver=protection.outlook.com; client-ip={ip}; helo={mta};",
            ),
            ("X-MS-Exchange-Organization-AuthAs", "Anonymous"),
            (
                "X-MS-Exchange-Organization-AuthSource",
                f"{tenant_mx.split('.')[0][:10].upper()}.mail.protection.outlook.com",
            ),
            ("X-MS-Exchange-Organization-SCL", "1" if dmarc == "pass" else "5"),
        ]
    out = [
        *reversed(hops),
        ("Authentication-Results", auth),
        *org[:1],
        ("Return-Path", f"{frm[1] if internal else 'bounce-' + str(rng.randint(100, 999)) + '@' + dom}"),
        ("From", f'"{frm[0]}" <{frm[1]}>'),
        ("To", ", ".join(f'"{n}" <{a}>' for n, a in to) or "undisclosed-recipients:;"),
        ("Subject", subject),
        ("Date", rfc2822(sent)),
        ("Message-ID", imid),
    ]
    if reply_to:
        out.append(("Reply-To", f'"{reply_to[0]}" <{reply_to[1]}>'))
    out += [
        *extra,
        ("MIME-Version", "1.0"),
        ("Content-Type", f'{ctype}; boundary="_000_{rng.getrandbits(40):x}_"'),
        *org[1:],
    ]
    return [{"name": n, "value": v} for n, v in out]


def _message(
    c: _Ctx,
    mid: str,
    folder: str,
    *,
    subject: str,
    frm: tuple[str, str],
    to: list[tuple[str, str]],
    html: str | None,
    text: str | None = None,
    received: datetime,
    headers: list[Json],
    imid: str,
    conversation: str,
    cc: Sequence[tuple[str, str]] = (),
    reply_to: tuple[str, str] | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    is_read: bool | None = None,
    sender: tuple[str, str] | None = None,
) -> Json:
    rng = c.rng
    msg_id = exchange_id(rng, c.key(mid))
    atts = [
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "id": exchange_id(rng, c.key(mid), b"\x12\x00"),
            "name": n,
            "contentType": ct,
            "size": len(data) + 180,
            "isInline": False,
            "lastModifiedDateTime": iso(received),
            "contentId": None,
            "contentLocation": None,
            "contentBytes": base64.b64encode(data).decode(),
        }
        for n, ct, data in attachments
    ]
    sent = received - timedelta(seconds=rng.randint(2, 90))
    return {
        "id": msg_id,
        "createdDateTime": iso(received),
        "lastModifiedDateTime": iso(received),
        "changeKey": change_key(rng),
        "categories": [],
        "receivedDateTime": iso(received),
        "sentDateTime": iso(sent),
        "hasAttachments": bool(atts),
        "internetMessageId": imid,
        "subject": subject,
        "bodyPreview": _preview(html, text),
        "importance": "normal",
        "parentFolderId": folder,
        "conversationId": conversation,
        "conversationIndex": base64.b64encode(rng.randbytes(22)).decode(),
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isRead": rng.random() < 0.6 if is_read is None else is_read,
        "isDraft": False,
        "inferenceClassification": "focused",
        "body": {"contentType": "html", "content": html}
        if html is not None
        else {"contentType": "text", "content": text or ""},
        "sender": address(*(sender or frm)),
        "from": address(*frm),
        "toRecipients": [address(n, a) for n, a in to],
        "ccRecipients": [address(n, a) for n, a in cc],
        "bccRecipients": [],
        "replyTo": [address(*reply_to)] if reply_to else [],
        "flag": {"flagStatus": "notFlagged"},
        "internetMessageHeaders": headers,
        "attachments": atts,
    }


def _conversation(rng: random.Random) -> str:
    return base64.urlsafe_b64encode(
        b"\x00\x00\x00\x03\x24" + rng.randbytes(16) + b"\x00\x10\x00" + rng.randbytes(16)
    ).decode()


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
    c = _Ctx(rng, d, truth, start, mailboxes)
    counts = dict.fromkeys(d.mailbox_ids, 0)
    _recall_fixture(c, counts)
    _campaign(c, counts)
    n_sent = max(1, messages_per_mailbox // 8)
    for uid in d.people:
        for _ in range(n_sent):
            _internal(c, uid, counts)
    for mid in d.mailbox_ids:
        for _ in range(max(0, messages_per_mailbox - counts[mid])):
            _inbound(c, mid, phishing_rate, real)
    return mailboxes


def _deliver(c: _Ctx, counts: dict[str, int], mid: str, msg: Json, benign: bool) -> None:
    c.mailboxes[mid].messages.append(msg)
    counts[mid] = counts.get(mid, 0) + 1
    (c.truth.benign_message_ids if benign else c.truth.malicious_message_ids).add(msg["id"])


def _internal(
    c: _Ctx, uid: str, counts: dict[str, int], **force: object
) -> tuple[str, list[tuple[str, str]]]:
    """One internal message: the sender's Sent Items copy and each internal recipient's Inbox copy."""
    rng, d = c.rng, c.d
    peers = [p for p in rng.sample(d.people, min(3, len(d.people))) if p != uid][: rng.randint(1, 2)]
    to = [c.user_addr(p) for p in peers]
    ext = None
    if rng.random() < 0.2:
        ext = (
            f"{rng.choice(('Jo', 'Max', 'Kim', 'Ash'))} {rng.choice(('Reyes', 'Lund', 'Okoro'))}",
            f"contact{rng.randint(1, 99)}@{rng.choice(PARTNER_DOMAINS)}",
        )
        to.append(ext)
    topic = rng.choice(
        (
            "Budget review",
            "Team offsite",
            "Quarterly planning",
            "Customer follow-up",
            "Release notes",
            "Hiring update",
            "Office move",
            "Project status",
            "Training schedule",
            "Vendor shortlist",
        )
    )
    subject = rng.choice((topic, f"RE: {topic}", f"Meeting: {topic}", f"Notes from {topic.lower()}"))
    frm = c.user_addr(uid)
    body = (
        f"<html><body><p>Hi {to[0][0].split(' ')[0]},</p><p>Following up on {topic.lower()}: "
        f"{rng.choice(('see my comments below.', 'can we meet Thursday?', 'the draft is ready for review.'))}"
        f"</p><p>Thanks,<br>{frm[0]}</p></body></html>"
    )
    sent = days_before(rng, c.start, 60)
    imid, conv = c.imid(d.domain), _conversation(rng)
    atts = [benign_attachment(rng, topic.replace(" ", "_"))] if rng.random() < 0.2 else []
    headers = _headers(c, internal=True, frm=frm, to=to, subject=subject, sent=sent, imid=imid)
    msg = _message(
        c,
        uid,
        c.folders(uid)["sentitems"],
        subject=subject,
        frm=frm,
        to=to,
        html=body,
        received=sent,
        headers=[],
        imid=imid,
        conversation=conv,
        attachments=atts,
        is_read=True,
    )
    _deliver(c, counts, uid, msg, True)
    for p in peers:
        copy = _message(
            c,
            p,
            c.folders(p)["inbox"],
            subject=subject,
            frm=frm,
            to=to,
            html=body,
            received=sent + timedelta(seconds=3),
            headers=headers,
            imid=imid,
            conversation=conv,
            attachments=atts,
        )
        _deliver(c, counts, p, copy, True)
    return imid, to


def _inbound(c: _Ctx, mid: str, phishing_rate: float, real: RealMail | None) -> None:
    rng, d = c.rng, c.d
    if real is not None and real.items and rng.random() < real.share:
        _real(c, mid, real)
        return
    name, addr = c.user_addr(mid)
    received = days_before(rng, c.start, 60)
    folders = c.folders(mid)
    if rng.random() < phishing_rate:
        ex = rng.choice(d.executives) if d.executives else None
        p = make_phish(
            rng,
            tenant_domain=d.domain,
            user_name=name,
            executive=c.user_addr(ex) if ex and ex != mid else None,
        )
        msg = _phish_message(c, mid, p, [(name, addr)], received, folders["inbox"])
        c.mailboxes[mid].messages.append(msg)
        c.truth.malicious_message_ids.add(msg["id"])
        c.truth.malicious_internet_message_ids.add(msg["internetMessageId"])
        return
    kind = rng.random()
    atts: list[tuple[str, str, bytes]] = []
    extra: list[tuple[str, str]] = []
    folder = folders["inbox"]
    if kind < 0.4:
        sender_name, dom = rng.choice(NEWSLETTERS)
        frm = (sender_name, f"newsletter@{dom}")
        subject = rng.choice(
            (
                "This week's highlights",
                "Your monthly digest",
                "Upcoming webinars",
                "New features this month",
                "Industry roundup",
            )
        )
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
        if rng.random() < 0.3:
            folder = folders["newsletters"]
    elif kind < 0.75:
        vendor, dom = rng.choice(VENDORS)
        n = rng.randint(10000, 99999)
        frm = (f"{vendor} Billing", f"billing@{dom}")
        subject = f"Invoice {n} from {vendor}"
        body = (
            f"<html><body><p>Dear customer,</p><p>Please find attached invoice {n}, due in 30 days "
            f"under the usual terms. Contact us at billing@{dom} with any questions.</p>"
            f"<p>Kind regards,<br>{vendor}</p></body></html>"
        )
        atts = [benign_attachment(rng, f"Invoice_{n}")] if rng.random() < 0.7 else []
        if rng.random() < 0.25:
            folder = folders["receipts"]
    else:
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
    imid = c.imid(frm[1].split("@")[1])
    headers = _headers(
        c,
        internal=False,
        frm=frm,
        to=[(name, addr)],
        subject=subject,
        sent=received,
        imid=imid,
        ctype="multipart/mixed" if atts else "multipart/alternative",
        extra=extra,
    )
    msg = _message(
        c,
        mid,
        folder,
        subject=subject,
        frm=frm,
        to=[(name, addr)],
        html=body,
        received=received,
        headers=headers,
        imid=imid,
        conversation=_conversation(rng),
        attachments=atts,
    )
    c.mailboxes[mid].messages.append(msg)
    c.truth.benign_message_ids.add(msg["id"])


def _phish_message(
    c: _Ctx,
    mid: str,
    p: Phish,
    to: list[tuple[str, str]],
    received: datetime,
    folder: str,
    imid: str | None = None,
    headers: list[Json] | None = None,
    conv: str | None = None,
) -> Json:
    imid = imid or c.imid(p.from_addr.split("@")[-1])
    headers = headers or _headers(
        c,
        internal=False,
        frm=(p.from_name, p.from_addr),
        to=to,
        subject=p.subject,
        sent=received,
        imid=imid,
        spf=p.spf,
        dkim=p.dkim,
        dmarc=p.dmarc,
        reply_to=p.reply_to,
        ctype="multipart/mixed" if p.attachments else "multipart/alternative",
    )
    return _message(
        c,
        mid,
        folder,
        subject=p.subject,
        frm=(p.from_name, p.from_addr),
        to=to,
        html=p.html,
        received=received,
        headers=headers,
        imid=imid,
        conversation=conv or _conversation(c.rng),
        reply_to=p.reply_to,
        attachments=p.attachments,
        is_read=c.rng.random() < 0.3,
    )


def _campaign(c: _Ctx, counts: dict[str, int]) -> None:
    """The same phishing message (one internetMessageId, one link) in several mailboxes."""
    rng, d = c.rng, c.d
    targets = rng.sample(d.people, min(len(d.people), max(3, min(12, len(d.people) // 5))))
    p = make_phish(rng, tenant_domain=d.domain, user_name="Colleague Name", executive=None)
    p.html = p.html.replace("Dear Colleague,", "Dear user,")
    to = [c.user_addr(t) for t in targets]
    received = days_before(rng, c.start, 10, 2)
    imid = c.imid(p.from_addr.split("@")[-1])
    headers = _headers(
        c,
        internal=False,
        frm=(p.from_name, p.from_addr),
        to=to,
        subject=p.subject,
        sent=received,
        imid=imid,
        spf=p.spf,
        dkim=p.dkim,
        dmarc=p.dmarc,
        reply_to=p.reply_to,
        ctype="multipart/mixed" if p.attachments else "multipart/alternative",
    )
    conv = _conversation(rng)
    copies = []
    for i, t in enumerate(targets):
        folder = c.folders(t)["projects" if i % 3 == 1 else "inbox"]
        msg = _phish_message(c, t, p, to, received + timedelta(seconds=i), folder, imid, headers, conv)
        _deliver(c, counts, t, msg, False)
        copies.append((t, msg["id"]))
    c.truth.campaigns[imid] = copies
    c.truth.malicious_internet_message_ids.add(imid)


def _recall_fixture(c: _Ctx, counts: dict[str, int]) -> None:
    """Mail to a nested DL, a colleague's alias and an outside address; one copy moved, one forwarded."""
    rng, d = c.rng, c.d
    group = d.fixture_groups[0]
    reached = d.expand(group)
    sender = next((p for p in d.people if p not in reached), d.people[0])
    alias_user = next(
        (p for p in d.people if p != sender and p not in reached and len(d.by_id[p]["proxyAddresses"]) > 2),
        None,
    )
    g = next(x for x in d.groups if x["id"] == group)
    to: list[tuple[str, str]] = [(g["displayName"], g["mail"])]
    if alias_user:
        alias = d.by_id[alias_user]["proxyAddresses"][1].split(":", 1)[1]
        to.append((d.by_id[alias_user]["displayName"], alias))
    external = ("Dana Whitfield", f"dana.whitfield@{rng.choice(PARTNER_DOMAINS)}")
    to.append(external)
    frm = c.user_addr(sender)
    subject = "Project Falcon: revised budget and timeline"
    body = (
        "<html><body><p>Hi all,</p><p>Attached is the revised Falcon budget. Please treat the figures as "
        "draft until Friday's review.</p><p>Thanks,<br>" + frm[0] + "</p></body></html>"
    )
    sent = c.start - timedelta(days=2, hours=3)
    imid, conv = c.imid(d.domain), _conversation(rng)
    atts = [benign_attachment(rng, "Falcon_budget")]
    headers = _headers(c, internal=True, frm=frm, to=to, subject=subject, sent=sent, imid=imid)
    sent_msg = _message(
        c,
        sender,
        c.folders(sender)["sentitems"],
        subject=subject,
        frm=frm,
        to=to,
        html=body,
        received=sent,
        headers=[],
        imid=imid,
        conversation=conv,
        attachments=atts,
        is_read=True,
    )
    _deliver(c, counts, sender, sent_msg, True)
    recipients = [
        r
        for r in dict.fromkeys(reached + ([alias_user] if alias_user else []))
        if r != sender and r in c.mailboxes
    ]
    copies = []
    for r in recipients:
        copies.append(
            (
                r,
                _message(
                    c,
                    r,
                    c.folders(r)["inbox"],
                    subject=subject,
                    frm=frm,
                    to=to,
                    html=body,
                    received=sent + timedelta(seconds=4),
                    headers=headers,
                    imid=imid,
                    conversation=conv,
                    attachments=atts,
                ),
            )
        )
    moved = forwarded = None
    if copies:
        r, m = copies[0]
        m["parentFolderId"] = c.folders(r)["projects"]
        moved = (r, m["id"], m["parentFolderId"])
    for r, m in copies:
        _deliver(c, counts, r, m, True)
    if len(copies) >= 2:
        by = copies[-1][0]
        target = next((p for p in d.people if p not in recipients and p != sender), sender)
        fw_imid, fwd_from = c.imid(d.domain), c.user_addr(by)
        fw_subject = f"FW: {subject}"
        fw_body = (
            f"<html><body><p>FYI, see below.</p><hr><p><b>From:</b> {frm[0]} &lt;{frm[1]}&gt;<br>"
            f"<b>Subject:</b> {subject}</p>{body}</body></html>"
        )
        fw_headers = _headers(
            c,
            internal=True,
            frm=fwd_from,
            to=[c.user_addr(target)],
            subject=fw_subject,
            sent=sent + timedelta(hours=1),
            imid=fw_imid,
            extra=[("In-Reply-To", imid), ("References", imid), ("Thread-Topic", subject)],
        )
        fw_sent = _message(
            c,
            by,
            c.folders(by)["sentitems"],
            subject=fw_subject,
            frm=fwd_from,
            to=[c.user_addr(target)],
            html=fw_body,
            received=sent + timedelta(hours=1),
            headers=[],
            imid=fw_imid,
            conversation=conv,
            attachments=atts,
            is_read=True,
        )
        fw_copy = _message(
            c,
            target,
            c.folders(target)["inbox"],
            subject=fw_subject,
            frm=fwd_from,
            to=[c.user_addr(target)],
            html=fw_body,
            received=sent + timedelta(hours=1, seconds=5),
            headers=fw_headers,
            imid=fw_imid,
            conversation=conv,
            attachments=atts,
        )
        _deliver(c, counts, by, fw_sent, True)
        _deliver(c, counts, target, fw_copy, True)
        forwarded = {
            "by": by,
            "sent_message_id": fw_sent["id"],
            "mailbox": target,
            "message_id": fw_copy["id"],
            "internet_message_id": fw_imid,
        }
    c.truth.recall_fixtures.append(
        {
            "sender": sender,
            "internet_message_id": imid,
            "sent_message_id": sent_msg["id"],
            "group_id": group,
            "addresses": [a for _, a in to],
            "external": external[1],
            "copies": [(r, m["id"]) for r, m in copies],
            "moved": moved,
            "forwarded": forwarded,
        }
    )


def _real(c: _Ctx, mid: str, real: RealMail) -> None:
    from m365sandbox.eml import eml_to_graph_message

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
        return  # Exchange drops a second delivery of one Message-ID to a mailbox
    c.real_delivered.add((mid, msg["internetMessageId"]))
    msg["id"] = exchange_id(rng, c.key(mid))
    msg["parentFolderId"] = c.folders(mid)["inbox"]
    msg["changeKey"] = change_key(rng)
    msg["conversationId"] = _conversation(rng)
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
