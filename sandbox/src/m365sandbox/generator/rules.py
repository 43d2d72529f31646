"""The rules half of the tenant generator: benign and malicious Graph ``messageRule`` resources,
hidden Exchange inbox rules, and mailbox-level forwarding (``ForwardingSmtpAddress``)."""

from __future__ import annotations

import random

from m365sandbox.generator.common import Json, address, rule_id
from m365sandbox.generator.content import NEWSLETTERS, VENDORS
from m365sandbox.generator.directory import Directory
from m365sandbox.generator.mail import ensure_folders
from m365sandbox.seed import GroundTruth, MailboxSeed

CAMPAIGN_DROP = "collect.box@mailbox-secure.net"
"""The one outside address several compromised mailboxes forward to."""
DROPS = ("archive.copy@inbox-direct.org", "j.smith.files@fastmail-box.com", "backup-mail@evil.example")
KEYWORDS = (
    ["invoice", "payment", "wire"],
    ["bank", "password", "credentials"],
    ["phish", "hacked", "suspicious"],
)


def _rule(
    rng: random.Random,
    name: str,
    seq: int,
    conditions: Json,
    actions: Json,
    *,
    read_only: bool = False,
    enabled: bool = True,
) -> Json:
    return {
        "id": rule_id(rng),
        "displayName": name,
        "sequence": seq,
        "isEnabled": enabled,
        "hasError": False,
        "isReadOnly": read_only,
        "conditions": conditions,
        "actions": actions,
        "exceptions": {},
    }


def plant_rules(
    rng: random.Random, d: Directory, mailboxes: dict[str, MailboxSeed], truth: GroundTruth
) -> None:
    """Benign rules on about a fifth of the people, malicious patterns on a few, hidden rules and
    mailbox forwarding on a couple; all recorded in ``truth``."""
    people = [p for p in d.people if p in mailboxes]
    if not people:
        return
    n_bad = max(6, min(200, len(people) // 25))
    bad = rng.sample(people, min(n_bad, len(people)))
    benign_owners = [p for p in people if rng.random() < 0.2] or [people[-1]]
    for uid in benign_owners:
        _benign(rng, d, uid, mailboxes[uid], truth, people)
    patterns = [_forward_external, _delete_all, _rss_hide, _keyword_move, _blank_forward, _stop_after_forward]
    for i, uid in enumerate(bad):
        patterns[i % len(patterns)](rng, uid, mailboxes[uid], truth, i)
    # Hidden rules: only Get-InboxRule -IncludeHidden shows them.
    for uid in bad[:2]:
        rec = d.recipients[uid]
        rid = str(rng.getrandbits(63))
        hidden = {
            "Identity": f"{rec['Name']}\\{rid}",
            "Name": rng.choice(("", ".", "..")),
            "RuleIdentity": rid,
            "Enabled": True,
            "Priority": 1,
            "ForwardTo": None,
            "ForwardAsAttachmentTo": None,
            "RedirectTo": [f'"{DROPS[2]}" [SMTP:{DROPS[2]}]'],
            "DeleteMessage": False,
            "MoveToFolder": None,
            "MarkAsRead": True,
            "SubjectContainsWords": None,
            "BodyContainsWords": None,
            "SubjectOrBodyContainsWords": ["invoice", "payment"],
            "StopProcessingRules": True,
            "From": None,
            "InError": False,
            "Description": f"If the message includes specific words in the subject or body 'invoice' or "
            f"'payment'\r\nTake the following actions:\r\nredirect the message to "
            f"'{DROPS[2]}'\r\nand mark the message as read\r\nand stop processing more rules "
            f"on this message\r\n",
        }
        mailboxes[uid].hidden_rules.append(hidden)
        truth.malicious_rules.add((uid, str(hidden["Identity"])))
    # Mailbox-level forwarding: two to distinct drops, and the campaign address on one more.
    for i, uid in enumerate(bad[2:5]):
        target = CAMPAIGN_DROP if i == 2 else DROPS[i]
        rec = d.recipients[uid]
        rec["ForwardingSmtpAddress"] = f"smtp:{target}"
        rec["DeliverToMailboxAndForward"] = i != 1
        truth.external_forwarding[uid] = target


def _benign(
    rng: random.Random, d: Directory, uid: str, mb: MailboxSeed, truth: GroundTruth, people: list[str]
) -> None:
    f = ensure_folders(rng, mb)
    _news_name, news_dom = rng.choice(NEWSLETTERS)
    vendor, vdom = rng.choice(VENDORS)
    colleague = d.by_id[rng.choice(people)]
    choices: list[tuple[str, Json, Json]] = [
        (
            "Newsletters",
            {"senderContains": [news_dom]},
            {"moveToFolder": f["newsletters"], "stopProcessingRules": True},
        ),
        (
            "Vendor invoices",
            {"fromAddresses": [address(f"{vendor} Billing", f"billing@{vdom}")]},
            {"markAsRead": True, "moveToFolder": f["receipts"]},
        ),
        (
            "Forward to assistant",
            {"subjectContains": ["Expense report"]},
            {"forwardTo": [address(colleague["displayName"], colleague["mail"])]},
        ),
        ("Tag projects", {"subjectContains": ["Falcon", "Project"]}, {"assignCategories": ["Blue category"]}),
        ("High importance from my manager", {"importance": "high"}, {"markImportance": "high"}),
    ]
    for seq, (name, cond, act) in enumerate(rng.sample(choices, rng.randint(1, 3)), start=1):
        rule = _rule(rng, name, seq, cond, act, read_only=rng.random() < 0.1)
        mb.rules.append(rule)
        truth.benign_rules.add((uid, rule["id"]))


def _add(mb: MailboxSeed, truth: GroundTruth, uid: str, rule: Json) -> None:
    rule["sequence"] = rule["sequence"] or len(mb.rules) + 1
    mb.rules.append(rule)
    truth.malicious_rules.add((uid, rule["id"]))


def _forward_external(rng: random.Random, uid: str, mb: MailboxSeed, truth: GroundTruth, i: int) -> None:
    kind = ("forwardTo", "redirectTo", "forwardAsAttachmentTo")[(i // 6) % 3]
    target = CAMPAIGN_DROP if i % 2 == 0 else DROPS[i % 2]
    _add(
        mb,
        truth,
        uid,
        _rule(
            rng,
            rng.choice(("Sync", "Backup", "Mail copy")),
            len(mb.rules) + 1,
            {},
            {kind: [address(None, target)]},
        ),
    )


def _delete_all(rng: random.Random, uid: str, mb: MailboxSeed, truth: GroundTruth, i: int) -> None:
    _add(
        mb,
        truth,
        uid,
        _rule(
            rng,
            rng.choice(("Clean up", "x", "Delete")),
            len(mb.rules) + 1,
            {},
            {"delete": True, "markAsRead": True},
            read_only=i % 4 == 1,
        ),
    )


def _rss_hide(rng: random.Random, uid: str, mb: MailboxSeed, truth: GroundTruth, i: int) -> None:
    f = ensure_folders(rng, mb)
    _add(
        mb,
        truth,
        uid,
        _rule(
            rng,
            "..",
            len(mb.rules) + 1,
            {"senderContains": ["@"]},
            {"moveToFolder": f["rss feeds"], "markAsRead": True},
        ),
    )


def _keyword_move(rng: random.Random, uid: str, mb: MailboxSeed, truth: GroundTruth, i: int) -> None:
    f = ensure_folders(rng, mb)
    words = KEYWORDS[i % len(KEYWORDS)]
    act: Json = {"delete": True} if i % 2 else {"moveToFolder": f["conversationhistory"], "markAsRead": True}
    _add(
        mb,
        truth,
        uid,
        _rule(
            rng,
            rng.choice(("Invoices", "Filter", "")),
            len(mb.rules) + 1,
            {"bodyOrSubjectContains": words},
            act,
        ),
    )


def _blank_forward(rng: random.Random, uid: str, mb: MailboxSeed, truth: GroundTruth, i: int) -> None:
    _add(
        mb,
        truth,
        uid,
        _rule(
            rng,
            rng.choice(("", ".", " ")),
            len(mb.rules) + 1,
            {"subjectContains": ["payment", "wire"]},
            {"forwardAsAttachmentTo": [address(None, CAMPAIGN_DROP)], "markAsRead": True},
        ),
    )


def _stop_after_forward(rng: random.Random, uid: str, mb: MailboxSeed, truth: GroundTruth, i: int) -> None:
    rule = _rule(
        rng,
        "Priority",
        1,
        {},
        {"forwardTo": [address(None, DROPS[i % len(DROPS)])], "stopProcessingRules": True},
    )
    for r in mb.rules:
        r["sequence"] += 1
    mb.rules.insert(0, rule)
    truth.malicious_rules.add((uid, rule["id"]))
