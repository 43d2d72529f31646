"""A small hand-made tenant for the core tests."""

from __future__ import annotations

from mailwarden.directory import DirectoryState

SKU_E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
SKU_E5 = "06ebc4ee-1bb5-47dd-8120-11324bc54e06"


def user(oid: str, name: str, addrs: list[str], *, enabled: bool = True, guest: bool = False,
         licensed: bool = True, title: str | None = None, mail: str | None = None) -> dict:
    return {
        "id": oid, "displayName": name, "userPrincipalName": f"{oid}@contoso.com",
        "mail": mail if mail is not None else (addrs[0].split(":", 1)[1] if addrs else None),
        "proxyAddresses": addrs, "accountEnabled": enabled,
        "assignedLicenses": [{"skuId": SKU_E3, "disabledPlans": []}] if licensed else [],
        "userType": "Guest" if guest else "Member", "jobTitle": title, "onPremisesSyncEnabled": None,
    }


def group(oid: str, name: str, addrs: list[str]) -> dict:
    return {"id": oid, "displayName": name, "mail": addrs[0].split(":", 1)[1] if addrs else None,
            "mailEnabled": bool(addrs), "securityEnabled": not addrs, "groupTypes": [],
            "proxyAddresses": addrs}


def small_state() -> DirectoryState:
    """ann (aliases), bob (CFO), shared, room, disabled, unlicensed, guest; nested groups."""
    users = [
        user("ann", "Ann Lee", ["SMTP:Ann@Contoso.com", "smtp:ann.lee@contoso.com", "smtp:al@contoso.net",
                                "X500:/o=ExchangeLabs/cn=ann"]),
        user("bob", "Bob Roe", ["SMTP:bob@contoso.com"], title="Chief Financial Officer"),
        user("shared", "Info", ["SMTP:info@contoso.com"], licensed=False),
        user("room", "Room 1", ["SMTP:room1@contoso.com"], licensed=False),
        user("dis", "Dee Gone", ["SMTP:dee@contoso.com"], enabled=False),
        user("unlic", "Una Lic", ["SMTP:una@contoso.com"], licensed=False),
        user("guest", "Gus Guest", ["SMTP:gus@partner.com"], guest=True, licensed=False,
             mail="gus@partner.com"),
    ]
    groups = [
        group("all", "All staff", ["SMTP:all@contoso.com"]),
        group("fin", "Finance", ["SMTP:finance@contoso.com", "smtp:money@contoso.com"]),
        group("sec", "Security group", []),
    ]
    members = {"all": {"fin", "ann"}, "fin": {"sec"}, "sec": {"bob", "all"}}  # a cycle all->fin->sec->all
    rtypes = {"ann": "UserMailbox", "bob": "UserMailbox", "shared": "SharedMailbox", "room": "RoomMailbox",
              "dis": "UserMailbox", "unlic": "UserMailbox", "guest": "GuestMailUser",
              "all": "MailUniversalDistributionGroup", "fin": "MailUniversalDistributionGroup"}
    return DirectoryState("11111111-1111-1111-1111-111111111111",
                          users={u["id"]: u for u in users}, groups={g["id"]: g for g in groups},
                          members=members, recipient_types=rtypes, domains=["contoso.com", "Contoso.NET"],
                          skus=[])
