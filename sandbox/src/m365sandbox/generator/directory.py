"""The directory half of the tenant generator: users, groups, licences (subscribedSkus) and
Exchange recipients, shaped like Graph v1.0 and ``Get-Recipient`` output.

Everything is drawn from one ``random.Random`` so a seed always yields the same directory; the
objects are plain dicts and the per-user work is a few dozen rng calls, so 100,000 users take
seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from m365sandbox.generator.common import (
    CITIES,
    DEPARTMENTS,
    EXECUTIVE_DEPARTMENTS,
    EXECUTIVE_TITLES,
    FIRST_NAMES,
    LAST_NAMES,
    PARTNER_DOMAINS,
    Json,
    iso,
    new_uuid,
)

# Public SKU and service plan ids of Microsoft 365 (as listed in Microsoft's licensing reference).
EXO_ENTERPRISE = ("efb87545-963c-4e0d-99df-69c6916d9eb0", "EXCHANGE_S_ENTERPRISE")
EXO_STANDARD = ("9aaf7827-d63c-4b61-89c3-182f06f82e5c", "EXCHANGE_S_STANDARD")
SHAREPOINT = ("5dbe027f-2339-4123-9542-606e4d348a72", "SHAREPOINTENTERPRISE")
TEAMS = ("57ff2da0-773e-42df-b2af-ffb7a2317929", "TEAMS1")
SKYPE = ("0feaeb32-d00e-4d66-bd5a-43b5b83db82c", "MCOSTANDARD")
OFFICE = ("43de0ff5-c92c-492b-9116-175376d08c38", "OFFICESUBSCRIPTION")
ATP = ("f20fedf3-f3c3-43c3-8267-2bfdd51c0939", "ATP_ENTERPRISE")
FLOW_VIRAL = ("50e68c76-46c6-4674-81f9-75456511b170", "FLOW_P2_VIRAL")
SKU_CATALOG: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    # skuPartNumber: (skuId, service plans)
    "SPE_E3": ("05e9a617-0261-4cee-bb44-138d3ef5d965", (EXO_ENTERPRISE, SHAREPOINT, TEAMS, SKYPE, OFFICE)),
    "SPE_E5": (
        "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
        (EXO_ENTERPRISE, SHAREPOINT, TEAMS, SKYPE, OFFICE, ATP),
    ),
    "ENTERPRISEPACK": (
        "6fd2c87f-b296-42f0-b197-1e91e994b900",
        (EXO_ENTERPRISE, SHAREPOINT, TEAMS, SKYPE, OFFICE),
    ),
    "EXCHANGESTANDARD": ("4b9405b0-7788-4568-add1-99614e613b69", (EXO_STANDARD,)),
    "FLOW_FREE": ("f30db892-07e9-47e9-837c-80727f46fd3d", (FLOW_VIRAL,)),
}
SKU_IDS = {part: sku_id for part, (sku_id, _) in SKU_CATALOG.items()}
SHARED_NAMES = (
    "finance",
    "support",
    "info",
    "hr",
    "payroll",
    "sales",
    "accounts",
    "reception",
    "it-helpdesk",
    "marketing",
    "legal",
    "procurement",
    "careers",
    "press",
)
ROOM_NAMES = ("Boardroom", "Orion", "Vega", "Lyra", "Atlas", "Nova", "Cedar", "Maple", "Harbor", "Summit")
EQUIPMENT_NAMES = ("Projector", "Pool Car", "Camera Kit", "Laptop Cart", "Van")


def plan_counts(users: int) -> dict[str, int]:
    """How many user objects of each kind a tenant of ``users`` user objects gets (sums to ``users``).

    Kinds: ``executive`` and ``member`` (enabled, licensed, UserMailbox), ``unlicensed`` (UserMailbox
    without licence), ``disabled`` (UserMailbox, sign-in blocked), ``mailuser`` (no mailbox),
    ``guest``, ``shared``, ``room``, ``equipment``.
    """
    if users < 10:
        raise ValueError("a generated tenant needs at least 10 users")
    c = {
        "executive": min(len(EXECUTIVE_TITLES), max(2, users // 10)),
        "shared": max(1, users * 3 // 100),
        "room": max(1, users * 2 // 100),
        "equipment": users // 100,
        "guest": max(1, users * 5 // 100),
        "disabled": max(1, users * 4 // 100),
        "unlicensed": max(1, users * 3 // 100),
        "mailuser": users // 100,
    }
    c["member"] = users - sum(c.values())
    return c


@dataclass
class Directory:
    """The generated directory plus the indexes the mail and rule generators need."""

    tenant_id: str
    domain: str
    initial_domain: str
    users: list[Json] = field(default_factory=list)
    groups: list[Json] = field(default_factory=list)
    members: dict[str, list[str]] = field(default_factory=dict)
    skus: list[Json] = field(default_factory=list)
    recipients: dict[str, Json] = field(default_factory=dict)
    kinds: dict[str, list[str]] = field(default_factory=dict)
    """kind (see :func:`plan_counts`) -> user ids."""
    by_id: dict[str, Json] = field(default_factory=dict)
    executives: list[str] = field(default_factory=list)
    mailbox_ids: list[str] = field(default_factory=list)
    """Users with an Exchange mailbox (user, shared, room and equipment mailboxes)."""
    people: list[str] = field(default_factory=list)
    """Enabled member users with a UserMailbox: who writes and reads mail."""
    fixture_groups: list[str] = field(default_factory=list)
    """The recall fixture's nested groups, outermost first (DL -> DL -> mail-enabled security group)."""

    def protected(self) -> set[str]:
        """Enabled member users with a UserMailbox and a licence."""
        return {
            u["id"]
            for u in self.users
            if u["accountEnabled"]
            and u["userType"] == "Member"
            and u["assignedLicenses"]
            and self.recipients[u["id"]]["RecipientTypeDetails"] == "UserMailbox"
        }

    def expand(self, group_id: str, limit: int = 1000) -> list[str]:
        """User ids reached from a group through nested groups (each once, at most ``limit``)."""
        out: list[str] = []
        seen_g, seen_u, stack = {group_id}, set(), [group_id]
        while stack and len(out) < limit:
            for mid in self.members.get(stack.pop(), []):
                if mid in self.by_id and mid not in seen_u:
                    seen_u.add(mid)
                    out.append(mid)
                elif mid not in self.by_id and mid not in seen_g:
                    seen_g.add(mid)
                    stack.append(mid)
        return out[:limit]


class _Names:
    """Unique mail local parts across users and groups."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.counts: dict[str, int] = {}

    def claim(self, base: str) -> str:
        if base not in self.taken:
            self.taken.add(base)
            return base
        n = self.counts.get(base, 1)
        while f"{base}{n}" in self.taken:
            n += 1
        self.counts[base] = n + 1
        self.taken.add(f"{base}{n}")
        return f"{base}{n}"

    def maybe(self, base: str) -> str | None:
        if base in self.taken:
            return None
        self.taken.add(base)
        return base


def _licence(part: str, disabled: tuple[str, ...] = ()) -> Json:
    return {"disabledPlans": list(disabled), "skuId": SKU_IDS[part]}


def build_directory(
    rng: random.Random,
    *,
    tenant_id: str,
    domain: str,
    initial_domain: str,
    users: int,
    groups: int,
    start: datetime,
) -> Directory:
    """Users, groups, members, skus and recipients of a tenant (see :func:`plan_counts`)."""
    d = Directory(tenant_id=tenant_id, domain=domain, initial_domain=initial_domain)
    names = _Names()
    for reserved in ("admin", "postmaster", "abuse", "noreply"):
        names.taken.add(reserved)
    counts = plan_counts(users)
    order = [
        "executive",
        "shared",
        "room",
        "equipment",
        "member",
        "unlicensed",
        "disabled",
        "mailuser",
        "guest",
    ]
    depts = list(DEPARTMENTS)
    for kind in order:
        ids = d.kinds.setdefault(kind, [])
        for i in range(counts[kind]):
            u, rec = _make_user(rng, d, names, kind, i, depts, start)
            d.users.append(u)
            d.by_id[u["id"]] = u
            d.recipients[u["id"]] = rec
            ids.append(u["id"])
            if rec["RecipientTypeDetails"] in (
                "UserMailbox",
                "SharedMailbox",
                "RoomMailbox",
                "EquipmentMailbox",
            ):
                d.mailbox_ids.append(u["id"])
    d.executives = list(d.kinds["executive"])
    d.people = d.kinds["executive"] + d.kinds["member"]
    _build_groups(rng, d, names, groups, start)
    d.skus = _skus(rng, d)
    return d


def _make_user(
    rng: random.Random, d: Directory, names: _Names, kind: str, i: int, depts: list[str], start: datetime
) -> tuple[Json, Json]:
    uid = new_uuid(rng)
    created = iso(start - timedelta(days=rng.randint(70, 2500), seconds=rng.randint(0, 86399)))
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, country = CITIES[rng.randrange(len(CITIES))]
    job: str | None = None
    dept: str | None = None
    display = f"{first} {last}"
    given: str | None = first
    surname: str | None = last
    enabled, user_type, licences = True, "Member", [_licence(_pick_sku(rng))]
    details, rtype = "UserMailbox", "UserMailbox"
    external: str | None = None
    if kind == "executive":
        job, dept = EXECUTIVE_TITLES[i], EXECUTIVE_DEPARTMENTS[i]
        licences = [_licence("SPE_E5")]
        local = names.claim(f"{first}.{last}".lower())
    elif kind in ("shared", "room", "equipment"):
        given = surname = None
        enabled, licences = False, []
        if kind == "shared":
            base = SHARED_NAMES[i % len(SHARED_NAMES)]
            display = base.replace("-", " ").title() + ("" if i < len(SHARED_NAMES) else f" {i}")
            details = rtype = "SharedMailbox"
        elif kind == "room":
            room = ROOM_NAMES[i % len(ROOM_NAMES)]
            base = f"room-{room.lower()}"
            display = f"Room {room} ({rng.randint(4, 20)} seats)"
            details = rtype = "RoomMailbox"
        else:
            item = EQUIPMENT_NAMES[i % len(EQUIPMENT_NAMES)]
            base = "eq-" + item.lower().replace(" ", "-")
            display = f"{item} {i + 1}"
            details = rtype = "EquipmentMailbox"
        local = names.claim(base)
    elif kind == "guest":
        partner = rng.choice(PARTNER_DOMAINS)
        external = f"{first}.{last}@{partner}".lower()
        local = f"{external.replace('@', '_')}#EXT#"
        display, user_type, licences = f"{display} ({partner.split('.')[0].title()})", "Guest", []
        details, rtype = "GuestMailUser", "MailUser"
    else:
        dept = depts[rng.randrange(len(depts))]
        job = rng.choice(DEPARTMENTS[dept])
        local = names.claim(f"{first}.{last}".lower())
        if kind == "unlicensed":
            licences = []
        elif kind == "disabled":
            enabled = False
            if rng.random() < 0.5:
                licences = []
        elif kind == "mailuser":
            external = f"{first[0]}{last}@{rng.choice(PARTNER_DOMAINS)}".lower()
            licences, details, rtype = [], "MailUser", "MailUser"
            job = "Contractor"
    if licences and kind in ("member", "executive") and rng.random() < 0.15:
        licences.append(_licence("FLOW_FREE"))
    if licences and rng.random() < 0.1:
        licences[0]["disabledPlans"] = [TEAMS[0]]
    if kind == "guest":
        if external is None:  # every guest was drawn with an outside address
            raise RuntimeError("a guest user needs an outside address")
        upn = f"{local}@{d.initial_domain}"
        mail = external
        proxies = [f"SMTP:{external}"]
        alias = local.replace("#", "")
    else:
        upn = mail = f"{local}@{d.domain}"
        proxies = [f"SMTP:{mail}"]
        if kind in ("executive", "member", "unlicensed", "disabled"):
            for extra in (first.lower(), f"{first[0]}.{last}".lower()):
                got = names.maybe(extra)
                if got:
                    proxies.append(f"smtp:{got}@{d.domain}")
        proxies.append(f"smtp:{local}@{d.initial_domain}")
        alias = local
    synced = True if kind in ("member", "disabled", "unlicensed") and rng.random() < 0.3 else None
    user: Json = {
        "id": uid,
        "displayName": display,
        "givenName": given,
        "surname": surname,
        "userPrincipalName": upn,
        "mail": mail,
        "mailNickname": alias,
        "proxyAddresses": proxies,
        "jobTitle": job,
        "department": dept,
        "officeLocation": city if dept else None,
        "city": city if dept else None,
        "country": country if dept else None,
        "usageLocation": country if licences else None,
        "businessPhones": [],
        "mobilePhone": None,
        "preferredLanguage": "en-US",
        "accountEnabled": enabled,
        "assignedLicenses": licences,
        "userType": user_type,
        "onPremisesSyncEnabled": synced,
        "createdDateTime": created,
        "lastPasswordChangeDateTime": created,  # Entra ID sets it when the user is created
        "creationType": "Invitation" if kind == "guest" else None,
        "externalUserState": "Accepted" if kind == "guest" else None,
    }
    rec: Json = {
        "RecipientTypeDetails": details,
        "RecipientType": rtype,
        "Identity": alias,
        "Name": alias,
        "Alias": alias,
        "DisplayName": display,
        "PrimarySmtpAddress": mail,
        "EmailAddresses": list(proxies),
        "ExternalDirectoryObjectId": uid,
        "UserPrincipalName": upn,
        "Guid": new_uuid(rng),
        "WindowsEmailAddress": mail,
        "HiddenFromAddressListsEnabled": kind == "equipment",
        "ForwardingSmtpAddress": None,
        "ForwardingAddress": None,
        "DeliverToMailboxAndForward": False,
        "IsDirSynced": bool(synced),
    }
    if external:
        rec["ExternalEmailAddress"] = f"SMTP:{external}"
    return user, rec


def _pick_sku(rng: random.Random) -> str:
    r = rng.random()
    return "SPE_E3" if r < 0.6 else "ENTERPRISEPACK" if r < 0.9 else "EXCHANGESTANDARD"


def _group(
    rng: random.Random,
    d: Directory,
    names: _Names,
    display: str,
    kind: str,
    start: datetime,
    description: str = "",
) -> Json:
    """kind: ``dl`` (distribution list), ``unified``, ``security`` or ``mesg`` (mail-enabled security)."""
    gid = new_uuid(rng)
    mail_enabled = kind != "security"
    nick = names.claim("".join(ch for ch in display.lower().replace(" ", "-") if ch.isalnum() or ch == "-"))
    mail = f"{nick}@{d.domain}" if mail_enabled else None
    proxies = [f"SMTP:{mail}", f"smtp:{nick}@{d.initial_domain}"] if mail_enabled else []
    g: Json = {
        "id": gid,
        "displayName": display,
        "description": description or None,
        "groupTypes": ["Unified"] if kind == "unified" else [],
        "mailEnabled": mail_enabled,
        "securityEnabled": kind in ("security", "mesg"),
        "mail": mail,
        "mailNickname": nick if mail_enabled else new_uuid(rng)[:8],
        "proxyAddresses": proxies,
        "createdDateTime": iso(start - timedelta(days=rng.randint(30, 2000))),
        "visibility": rng.choice(("Private", "Public")) if kind == "unified" else None,
        "resourceProvisioningOptions": ["Team"] if kind == "unified" and rng.random() < 0.5 else [],
        "onPremisesSyncEnabled": None,
        "securityIdentifier": f"S-1-12-1-{rng.getrandbits(31)}-{rng.getrandbits(31)}",
    }
    d.groups.append(g)
    d.members[gid] = []
    if mail_enabled:
        details = {
            "dl": "MailUniversalDistributionGroup",
            "mesg": "MailUniversalSecurityGroup",
            "unified": "GroupMailbox",
        }[kind]
        d.recipients[gid] = {
            "RecipientTypeDetails": details,
            "RecipientType": "MailUniversalSecurityGroup"
            if kind == "mesg"
            else "MailUniversalDistributionGroup",
            "Identity": nick,
            "Name": nick,
            "Alias": nick,
            "DisplayName": display,
            "PrimarySmtpAddress": mail,
            "EmailAddresses": list(proxies),
            "ExternalDirectoryObjectId": gid,
            "Guid": new_uuid(rng),
            "WindowsEmailAddress": mail,
            "HiddenFromAddressListsEnabled": kind == "unified",
        }
    return g


def _build_groups(rng: random.Random, d: Directory, names: _Names, count: int, start: datetime) -> None:
    if count < 6:
        raise ValueError("a generated tenant needs at least 6 groups")
    people = d.people
    # The recall fixture: DL -> DL -> mail-enabled security group, three levels of nesting.
    falcon = _group(rng, d, names, "Project Falcon", "dl", start, "Everyone working on Project Falcon")
    core = _group(rng, d, names, "Falcon Core Team", "dl", start)
    reviewers = _group(rng, d, names, "Falcon Reviewers", "mesg", start)
    pick = _sample(rng, people, 6)
    d.members[falcon["id"]] = [*pick[:2], core["id"]]
    d.members[core["id"]] = [*pick[2:4], reviewers["id"]]
    d.members[reviewers["id"]] = pick[4:6]
    d.fixture_groups = [falcon["id"], core["id"], reviewers["id"]]
    all_co = _group(rng, d, names, "All Company", "dl", start, "Every employee")
    all_sg = _group(rng, d, names, "All Staff SG", "security", start, "Security group of all staff")
    ann = _group(rng, d, names, "Company Announcements", "unified", start)
    d.members[ann["id"]] = _sample(rng, people, 25)
    left = count - 6
    by_dept: dict[str, list[str]] = {}
    for uid in d.kinds["member"] + d.kinds["unlicensed"] + d.kinds["disabled"]:
        by_dept.setdefault(d.by_id[uid]["department"], []).append(uid)
    direct_all: list[str] = list(d.executives)
    for dept, uids in by_dept.items():
        if left >= 2:
            dl = _group(rng, d, names, f"{dept} Team", "dl", start, f"Everyone in {dept}")
            sg = _group(rng, d, names, f"SG-{dept}", "security", start)
            d.members[dl["id"]] = list(uids)
            d.members[sg["id"]] = list(uids)
            d.members[all_co["id"]].append(dl["id"])
            d.members[all_sg["id"]].append(sg["id"])
            left -= 2
            if left >= 1 and dept == "Finance" and len(uids) >= 2:
                team = _group(rng, d, names, "Finance Accounts Payable", "dl", start)
                d.members[team["id"]] = _sample(rng, uids, max(2, len(uids) // 3))
                d.members[dl["id"]].append(team["id"])
                left -= 1
        else:
            direct_all.extend(uids)
    d.members[all_co["id"]].extend(direct_all)
    d.members[all_sg["id"]].extend(direct_all)
    topics = ("Project", "Committee", "Guild", "Working Group", "Programme", "Club", "Council")
    words = (
        "Apollo",
        "Borealis",
        "Cobalt",
        "Delta",
        "Ember",
        "Fjord",
        "Granite",
        "Helix",
        "Indigo",
        "Juniper",
        "Krypton",
        "Lumen",
        "Mosaic",
        "Nimbus",
        "Onyx",
        "Pulsar",
        "Quartz",
        "Raven",
        "Sierra",
        "Tundra",
    )
    pool = [g["id"] for g in d.groups]
    for _ in range(left):
        r = rng.random()
        kind = "unified" if r < 0.45 else "dl" if r < 0.7 else "security" if r < 0.9 else "mesg"
        name = f"{rng.choice(words)} {rng.choice(topics)}"
        g = _group(rng, d, names, name, kind, start)
        d.members[g["id"]] = _sample(rng, people, rng.randint(2, 12))
        if kind != "unified" and rng.random() < 0.25:
            d.members[g["id"]].append(rng.choice(pool))
        pool.append(g["id"])


def _sample(rng: random.Random, seq: list[str], k: int) -> list[str]:
    """``k`` distinct items (fewer if ``seq`` is short; items repeat only when it is)."""
    if not seq:
        return []
    if len(seq) >= k:
        return rng.sample(seq, k)
    return list(dict.fromkeys(rng.choice(seq) for _ in range(k)))


def _skus(rng: random.Random, d: Directory) -> list[Json]:
    consumed: dict[str, int] = dict.fromkeys(SKU_IDS.values(), 0)
    for u in d.users:
        for lic in u["assignedLicenses"]:
            consumed[lic["skuId"]] += 1
    out = []
    for part, (sku_id, plans) in SKU_CATALOG.items():
        used = consumed[sku_id]
        if not used and part != "EXCHANGESTANDARD":
            continue
        enabled = 10000 if part == "FLOW_FREE" else used + rng.randint(0, max(2, used // 10))
        out.append(
            {
                "id": f"{d.tenant_id}_{sku_id}",
                "skuId": sku_id,
                "skuPartNumber": part,
                "appliesTo": "User",
                "capabilityStatus": "Enabled",
                "consumedUnits": used,
                "accountId": d.tenant_id,
                "prepaidUnits": {"enabled": enabled, "suspended": 0, "warning": 0, "lockedOut": 0},
                "servicePlans": [
                    {
                        "servicePlanId": pid,
                        "servicePlanName": pname,
                        "provisioningStatus": "Success",
                        "appliesTo": "User",
                    }
                    for pid, pname in plans
                ],
                "subscriptionIds": [new_uuid(rng)],
            }
        )
    return out


def move_on_premises(rng: random.Random, d: Directory, share: float) -> list[str]:
    """Put ``share`` of the member and executive mailboxes on an on-premises Exchange (hybrid).

    Such a user is synced from the on-premises directory (``onPremisesSyncEnabled``) and Exchange
    Online knows it only as a ``MailUser`` whose external address routes to on-premises (with the
    mailbox's ``ExchangeGuid``); Graph has no mailbox for it. Returns the moved user ids.
    """
    people = [u for u in d.people if d.recipients[u]["RecipientTypeDetails"] == "UserMailbox"]
    moved = sorted(rng.sample(people, round(share * len(people)))) if share > 0 else []
    for uid in moved:
        user, rec = d.by_id[uid], d.recipients[uid]
        user["onPremisesSyncEnabled"] = True
        rec.update({"RecipientTypeDetails": "MailUser", "RecipientType": "MailUser", "IsDirSynced": True,
                    "ExternalEmailAddress": f"SMTP:{rec['PrimarySmtpAddress']}", "ExchangeGuid": new_uuid(rng)})
    return moved
