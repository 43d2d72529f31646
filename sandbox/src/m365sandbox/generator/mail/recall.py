"""The recall fixture: internal mail to a nested distribution list, a colleague's alias and an
outside address; one recipient's copy already moved to a folder, another forwarded onwards.
What was sent and where every copy went is recorded in ``truth.recall_fixtures``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from m365sandbox.generator.common import PARTNER_DOMAINS, Json
from m365sandbox.generator.content import benign_attachment
from m365sandbox.generator.mail.context import MailContext
from m365sandbox.generator.mail.headers import message_headers
from m365sandbox.generator.mail.message import conversation_id, deliver, make_message

SUBJECT = "Project Falcon: revised budget and timeline"


@dataclass
class Sent:
    """The fixture's message as sent: who, to whom, what, when, and the sender's copy."""

    sender: str
    group: str
    reached: list[str]
    alias_user: str | None
    to: list[tuple[str, str]]
    external: tuple[str, str]
    frm: tuple[str, str]
    body: str
    sent: datetime
    imid: str
    conv: str
    attachments: list[tuple[str, str, bytes]]
    headers: list[Json]
    sent_copy: Json


def _addressing(c: MailContext) -> tuple[str, list[str], str, str | None, list[tuple[str, str]], tuple[str, str]]:
    """(group, members it reaches, sender, a colleague addressed by alias, To, the outside address)."""
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
    return group, reached, sender, alias_user, to, external


def _send(c: MailContext) -> Sent:
    rng, d = c.rng, c.d
    group, reached, sender, alias_user, to, external = _addressing(c)
    frm = c.user_addr(sender)
    body = (
        "<html><body><p>Hi all,</p><p>Attached is the revised Falcon budget. Please treat the figures as "
        "draft until Friday's review.</p><p>Thanks,<br>" + frm[0] + "</p></body></html>"
    )
    sent = c.start - timedelta(days=2, hours=3)
    imid, conv = c.imid(d.domain), conversation_id(rng)
    atts = [benign_attachment(rng, "Falcon_budget")]
    headers = message_headers(c, internal=True, frm=frm, to=to, subject=SUBJECT, sent=sent, imid=imid)
    sent_copy = make_message(c, sender, c.folders(sender)["sentitems"], subject=SUBJECT, frm=frm, to=to,
                             html=body, received=sent, headers=[], imid=imid, conversation=conv,
                             attachments=atts, is_read=True)
    deliver(c, sender, sent_copy, True)
    return Sent(sender, group, reached, alias_user, to, external, frm, body, sent, imid, conv, atts, headers,
                sent_copy)


def _copies(c: MailContext, s: Sent) -> tuple[list[str], list[tuple[str, Json]]]:
    """The recipients with a mailbox (the group's members, the alias's owner) and their copies."""
    recipients = [
        r for r in dict.fromkeys(s.reached + ([s.alias_user] if s.alias_user else []))
        if r != s.sender and r in c.mailboxes
    ]
    copies = [(r, make_message(c, r, c.folders(r)["inbox"], subject=SUBJECT, frm=s.frm, to=s.to, html=s.body,
                               received=s.sent + timedelta(seconds=4), headers=s.headers, imid=s.imid,
                               conversation=s.conv, attachments=s.attachments))
              for r in recipients]
    return recipients, copies


def _forward(c: MailContext, s: Sent, recipients: list[str], by: str) -> Json:
    """``by`` forwards the message to a colleague who did not get it: the forward's sent copy and
    the colleague's Inbox copy."""
    d = c.d
    target = next((p for p in d.people if p not in recipients and p != s.sender), s.sender)
    fw_imid, fwd_from = c.imid(d.domain), c.user_addr(by)
    fw_subject = f"FW: {SUBJECT}"
    fw_body = (
        f"<html><body><p>FYI, see below.</p><hr><p><b>From:</b> {s.frm[0]} &lt;{s.frm[1]}&gt;<br>"
        f"<b>Subject:</b> {SUBJECT}</p>{s.body}</body></html>"
    )
    at = s.sent + timedelta(hours=1)
    fw_headers = message_headers(c, internal=True, frm=fwd_from, to=[c.user_addr(target)], subject=fw_subject,
                                 sent=at, imid=fw_imid,
                                 extra=[("In-Reply-To", s.imid), ("References", s.imid), ("Thread-Topic", SUBJECT)])
    fw_sent = make_message(c, by, c.folders(by)["sentitems"], subject=fw_subject, frm=fwd_from,
                           to=[c.user_addr(target)], html=fw_body, received=at, headers=[], imid=fw_imid,
                           conversation=s.conv, attachments=s.attachments, is_read=True)
    fw_copy = make_message(c, target, c.folders(target)["inbox"], subject=fw_subject, frm=fwd_from,
                           to=[c.user_addr(target)], html=fw_body, received=at + timedelta(seconds=5),
                           headers=fw_headers, imid=fw_imid, conversation=s.conv, attachments=s.attachments)
    deliver(c, by, fw_sent, True)
    deliver(c, target, fw_copy, True)
    return {"by": by, "sent_message_id": fw_sent["id"], "mailbox": target, "message_id": fw_copy["id"],
            "internet_message_id": fw_imid}


def recall_fixture(c: MailContext) -> None:
    """Plant the fixture and record it in ``truth.recall_fixtures``."""
    s = _send(c)
    recipients, copies = _copies(c, s)
    moved = forwarded = None
    if copies:
        r, m = copies[0]
        m["parentFolderId"] = c.folders(r)["projects"]
        moved = (r, m["id"], m["parentFolderId"])
    for r, m in copies:
        deliver(c, r, m, True)
    if len(copies) >= 2:
        forwarded = _forward(c, s, recipients, copies[-1][0])
    c.truth.recall_fixtures.append({
        "sender": s.sender,
        "internet_message_id": s.imid,
        "sent_message_id": s.sent_copy["id"],
        "group_id": s.group,
        "addresses": [a for _, a in s.to],
        "external": s.external[1],
        "copies": [(r, m["id"]) for r, m in copies],
        "moved": moved,
        "forwarded": forwarded,
    })
