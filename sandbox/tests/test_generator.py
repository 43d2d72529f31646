"""The seeded tenant generator: determinism, sizes, schema conformance and ground truth."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pytest

from m365sandbox.generator import generate_tenant
from m365sandbox.generator.directory import plan_counts
from m365sandbox.generator.mail import WELL_KNOWN_FOLDERS
from m365sandbox.seed import TenantSeed
from tests.csdl import load_schema, needs_schema


def _digest(seed: TenantSeed) -> str:
    data = dataclasses.asdict(seed)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=sorted).encode()).hexdigest()


@pytest.fixture(scope="module")
def tenant() -> TenantSeed:
    return generate_tenant(seed=7, users=60, messages_per_mailbox=12, phishing_rate=0.2)


def test_same_seed_gives_byte_identical_tenant():
    assert _digest(generate_tenant(seed=3, users=20, messages_per_mailbox=5)) == _digest(
        generate_tenant(seed=3, users=20, messages_per_mailbox=5)
    )


def test_different_seeds_give_different_tenants():
    a, b = (
        generate_tenant(seed=3, users=20, messages_per_mailbox=3),
        generate_tenant(seed=4, users=20, messages_per_mailbox=3),
    )
    assert a.tenant_id != b.tenant_id and a.domain != b.domain and _digest(a) != _digest(b)


def test_explicit_domain_and_tenant_id_are_used():
    s = generate_tenant(seed=1, users=10, domain="Example.TEST", tenant_id="t-1", messages_per_mailbox=0)
    assert s.domain == "example.test" and s.tenant_id == "t-1"
    assert all(u["mail"].endswith("@example.test") for u in s.users if u["userType"] == "Member")


def test_counts_of_each_kind_match_the_plan(tenant):
    plan = plan_counts(60)
    details = [tenant.recipients[u["id"]]["RecipientTypeDetails"] for u in tenant.users]
    assert len(tenant.users) == 60 == sum(plan.values())
    assert details.count("SharedMailbox") == plan["shared"]
    assert details.count("RoomMailbox") == plan["room"]
    assert details.count("GuestMailUser") == plan["guest"]
    assert (
        sum(1 for u in tenant.users if u["userType"] == "Guest" and "#EXT#" in u["userPrincipalName"])
        == plan["guest"]
    )
    assert (
        sum(
            1
            for u in tenant.users
            if not u["accountEnabled"]
            and u["userType"] == "Member"
            and tenant.recipients[u["id"]]["RecipientTypeDetails"] == "UserMailbox"
        )
        == plan["disabled"]
    )
    assert len(tenant.truth.executives) == plan["executive"]
    assert len(tenant.groups) == 10


def test_requested_group_count_is_exact():
    assert len(generate_tenant(seed=2, users=200, groups=40, messages_per_mailbox=0).groups) == 40


def test_too_small_tenants_are_refused():
    with pytest.raises(ValueError):
        generate_tenant(users=5)
    with pytest.raises(ValueError):
        generate_tenant(users=20, cloud="mars")


def test_group_kinds_and_nesting_two_levels_deep(tenant):
    kinds = {("Unified" in g["groupTypes"], g["mailEnabled"], g["securityEnabled"]) for g in tenant.groups}
    assert {(False, True, False), (False, False, True), (False, True, True), (True, True, False)} <= kinds
    gids = {g["id"] for g in tenant.groups}

    def depth(gid: str, seen: frozenset[str] = frozenset()) -> int:
        subs = [m for m in tenant.members[gid] if m in gids and m not in seen]
        return 1 + max((depth(s, seen | {gid}) for s in subs), default=0)

    assert max(depth(g) for g in gids) >= 3
    for g in tenant.groups:
        assert (g["mail"] is not None) == g["mailEnabled"]
        if g["mailEnabled"]:
            assert f"SMTP:{g['mail']}" in g["proxyAddresses"]
            assert tenant.recipients[g["id"]]["PrimarySmtpAddress"] == g["mail"]


def test_users_have_aliases_and_recipients_mirror_them(tenant):
    for u in tenant.users:
        rec = tenant.recipients[u["id"]]
        assert rec["EmailAddresses"] == u["proxyAddresses"]
        assert [a for a in u["proxyAddresses"] if a.startswith("SMTP:")] == [f"SMTP:{u['mail']}"]
        assert rec["ExternalDirectoryObjectId"] == u["id"]
    assert sum(len(u["proxyAddresses"]) > 2 for u in tenant.users) > 10


def test_skus_count_assigned_licences(tenant):
    used: dict[str, int] = {}
    for u in tenant.users:
        for lic in u["assignedLicenses"]:
            used[lic["skuId"]] = used.get(lic["skuId"], 0) + 1
    for sku in tenant.skus:
        assert sku["consumedUnits"] == used.get(sku["skuId"], 0) <= sku["prepaidUnits"]["enabled"]
    assert {"SPE_E5", "EXCHANGESTANDARD"} <= {s["skuPartNumber"] for s in tenant.skus}


def test_protected_mailboxes_match_an_independent_recount(tenant):
    recount = {
        u["id"]
        for u in tenant.users
        if u["accountEnabled"] is True
        and u["userType"] == "Member"
        and len(u["assignedLicenses"]) > 0
        and tenant.recipients[u["id"]]["RecipientTypeDetails"] == "UserMailbox"
    }
    assert tenant.truth.protected_mailboxes == recount
    assert 0 < len(recount) < len(tenant.users)


def _messages(tenant: TenantSeed) -> dict[str, tuple[str, dict[str, Any]]]:
    return {m["id"]: (mid, m) for mid, mb in tenant.mailboxes.items() for m in mb.messages}


def test_every_planted_message_and_rule_exists(tenant):
    msgs = _messages(tenant)
    t = tenant.truth
    assert t.malicious_message_ids and t.malicious_message_ids <= msgs.keys()
    assert t.benign_message_ids <= msgs.keys() and not t.malicious_message_ids & t.benign_message_ids
    assert {
        m["internetMessageId"] for i, (_, m) in msgs.items() if i in t.malicious_message_ids
    } <= t.malicious_internet_message_ids
    rules = {(mid, r["id"]) for mid, mb in tenant.mailboxes.items() for r in mb.rules}
    hidden = {(mid, r["Identity"]) for mid, mb in tenant.mailboxes.items() for r in mb.hidden_rules}
    assert t.malicious_rules <= rules | hidden and hidden and hidden <= t.malicious_rules
    assert t.benign_rules <= rules and not t.benign_rules & t.malicious_rules
    for mid, target in t.external_forwarding.items():
        assert tenant.recipients[mid]["ForwardingSmtpAddress"] == f"smtp:{target}"


def test_mail_counts_and_folders(tenant):
    for _mid, mb in tenant.mailboxes.items():
        assert len(mb.messages) >= 12
        names = {f.well_known_name for f in mb.folders}
        assert {n for n, _, _ in WELL_KNOWN_FOLDERS} <= names
        folder_ids = {f.folder["id"] for f in mb.folders}
        assert all(m["parentFolderId"] in folder_ids for m in mb.messages)
        assert "RSS Feeds" in {f.folder["displayName"] for f in mb.folders}


def test_phishing_messages_carry_at_least_two_signals(tenant):
    msgs = _messages(tenant)
    for mid in tenant.truth.malicious_message_ids:
        m = msgs[mid][1]
        h = {x["name"]: x["value"] for x in m["internetMessageHeaders"]}
        signals = [
            any(f in h.get("Authentication-Results", "") for f in ("=fail", "=softfail")),
            bool(m["replyTo"])
            and m["replyTo"][0]["emailAddress"]["address"].split("@")[1]
            != m["from"]["emailAddress"]["address"].split("@")[1],
            any(
                a["name"].rsplit(".", 1)[-1]
                in {"html", "htm", "iso", "img", "lnk", "js", "vbs", "docm", "xlsm", "zip"}
                for a in m["attachments"]
            ),
            any(
                w in m["body"]["content"].lower()
                for w in (
                    "verify",
                    "password",
                    "credentials",
                    "confirm your",
                    "payment",
                    "sign in",
                    "wire",
                    "gift cards",
                )
            ),
            "href=" in m["body"]["content"] and "</a>" in m["body"]["content"],
            m["from"]["emailAddress"]["name"] in {u["displayName"] for u in tenant.users},
        ]
        assert sum(signals) >= 2, m["subject"]


def test_benign_external_mail_passes_authentication_and_internal_is_authas_internal(tenant):
    msgs = _messages(tenant)
    for mid in tenant.truth.benign_message_ids:
        m = msgs[mid][1]
        h = {x["name"]: x["value"] for x in m["internetMessageHeaders"]}
        if not h:
            continue  # sent items carry no transport headers
        if h["X-MS-Exchange-Organization-AuthAs"] == "Internal":
            assert m["from"]["emailAddress"]["address"].endswith("@" + tenant.domain)
        else:
            assert "spf=pass" in h["Authentication-Results"] and "dmarc=pass" in h["Authentication-Results"]


def test_campaign_copies_share_internet_message_id_and_some_are_moved(tenant):
    msgs = _messages(tenant)
    ((imid, copies),) = tenant.truth.campaigns.items()
    assert len(copies) >= 3 and len({mb for mb, _ in copies}) == len(copies)
    assert {msgs[i][1]["internetMessageId"] for _, i in copies} == {imid}
    assert len({msgs[i][1]["body"]["content"] for _, i in copies}) == 1
    inboxes = {
        mb: next(f.folder["id"] for f in tenant.mailboxes[mb].folders if f.well_known_name == "inbox")
        for mb, _ in copies
    }
    assert any(msgs[i][1]["parentFolderId"] != inboxes[mb] for mb, i in copies)


def test_recall_fixture_reaches_nested_group_alias_and_external(tenant):
    msgs = _messages(tenant)
    (fx,) = tenant.truth.recall_fixtures
    sent = msgs[fx["sent_message_id"]][1]
    assert msgs[fx["sent_message_id"]][0] == fx["sender"]
    assert len(fx["addresses"]) == 3 and fx["external"] in fx["addresses"]
    for mb, mid in fx["copies"]:
        assert msgs[mid][0] == mb and msgs[mid][1]["internetMessageId"] == sent["internetMessageId"]
    _moved_mb, moved_id, folder = fx["moved"]
    assert msgs[moved_id][1]["parentFolderId"] == folder
    fwd = msgs[fx["forwarded"]["message_id"]][1]
    assert fwd["subject"].startswith("FW: ") and fwd["internetMessageId"] != sent["internetMessageId"]
    refs = {h["name"]: h["value"] for h in fwd["internetMessageHeaders"]}
    assert refs["In-Reply-To"] == sent["internetMessageId"]


def test_messages_without_mail_stay_cheap():
    s = generate_tenant(seed=5, users=400, messages_per_mailbox=0)
    assert not any(mb.messages for mb in s.mailboxes.values())
    assert sum(bool(mb.folders) for mb in s.mailboxes.values()) < len(s.mailboxes) / 2
    assert s.truth.malicious_rules


@needs_schema
def test_every_generated_property_exists_in_the_graph_schema(tenant):
    schema = load_schema()
    for u in tenant.users:
        assert not schema.unknown_properties("user", u)
    for g in tenant.groups:
        assert not schema.unknown_properties("group", g)
    for s in tenant.skus:
        assert not schema.unknown_properties("subscribedSku", s)
        assert set(s["prepaidUnits"]) <= schema.complex_properties("licenseUnitsDetail")
    msg_props = schema.properties("message")
    att_props = schema.properties("fileAttachment")
    rule_props = schema.properties("messageRule")
    preds, acts = (
        schema.complex_properties("messageRulePredicates"),
        schema.complex_properties("messageRuleActions"),
    )
    folder_props = schema.properties("mailFolder")
    for mb in tenant.mailboxes.values():
        for f in mb.folders:
            assert set(f.folder) <= folder_props
        for m in mb.messages:
            assert set(m) <= msg_props
            for a in m["attachments"]:
                assert {k for k in a if "@" not in k} <= att_props
        for r in mb.rules:
            assert set(r) <= rule_props and set(r["conditions"]) <= preds and set(r["actions"]) <= acts
