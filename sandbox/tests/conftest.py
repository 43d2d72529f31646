"""A tiny hand-built tenant seed, a sandbox with one registered app, and a TLS server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from m365sandbox import Clock, Sandbox, SandboxServer
from m365sandbox.seed import FolderSeed, GroundTruth, MailboxSeed, TenantSeed
from m365sandbox.throttle import PROFILES

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "sandbox-test-secret-value"
REDIRECT = "https://127.0.0.1:9/consent/callback"
TENANT_A = "aaaaaaaa-0000-4000-8000-00000000000a"
TENANT_B = "bbbbbbbb-0000-4000-8000-00000000000b"
T0 = 1_800_000_000.0
"""The fake clock's start in every test (tests advance it, never sleep)."""


def _user(tid: str, n: int, domain: str, name: str, **extra: Any) -> dict[str, Any]:
    upn = f"{name}@{domain}"
    return {"id": f"{tid[:8]}-u{n:03d}-4000-8000-000000000000", "displayName": name.title(),
            "givenName": name.title(), "surname": "Sample", "userPrincipalName": upn, "mail": upn,
            "mailNickname": name, "accountEnabled": True, "userType": "Member", "jobTitle": None,
            "businessPhones": [], "mobilePhone": None, "officeLocation": None, "preferredLanguage": "en-US",
            "proxyAddresses": [f"SMTP:{upn}", f"smtp:{name}.alias@{domain}"],
            "assignedLicenses": [{"disabledPlans": [], "skuId": "c7df2760-2c81-4ef7-b578-5b5392b571df"}],
            **extra}


def make_seed(tid: str, domain: str) -> TenantSeed:
    """Four users (one disabled, one shared mailbox), nested groups, a distribution list."""
    alice = _user(tid, 1, domain, "alice")
    bob = _user(tid, 2, domain, "bob")
    carol = _user(tid, 3, domain, "carol", accountEnabled=False)
    shared = _user(tid, 4, domain, "finance", assignedLicenses=[])
    users = [alice, bob, carol, shared]
    g_outer = {"id": f"{tid[:8]}-g001-4000-8000-000000000000", "displayName": "All staff",
               "groupTypes": ["Unified"], "mailEnabled": True, "securityEnabled": False,
               "mail": f"allstaff@{domain}", "mailNickname": "allstaff",
               "proxyAddresses": [f"SMTP:allstaff@{domain}"], "visibility": "Private"}
    g_inner = {"id": f"{tid[:8]}-g002-4000-8000-000000000000", "displayName": "Engineering",
               "groupTypes": [], "mailEnabled": False, "securityEnabled": True, "mail": None,
               "mailNickname": "eng", "proxyAddresses": []}
    dl = {"id": f"{tid[:8]}-g003-4000-8000-000000000000", "displayName": "Sales DL", "groupTypes": [],
          "mailEnabled": True, "securityEnabled": False, "mail": f"sales@{domain}", "mailNickname": "sales",
          "proxyAddresses": [f"SMTP:sales@{domain}"]}
    members = {g_outer["id"]: [alice["id"], g_inner["id"]], g_inner["id"]: [bob["id"], carol["id"]],
               dl["id"]: [alice["id"], bob["id"]]}
    recipients: dict[str, Any] = {}
    for u, kind in ((alice, "UserMailbox"), (bob, "UserMailbox"), (carol, "UserMailbox"),
                    (shared, "SharedMailbox")):
        recipients[u["id"]] = {"RecipientTypeDetails": kind, "PrimarySmtpAddress": u["mail"],
                               "EmailAddresses": u["proxyAddresses"], "Alias": u["mailNickname"],
                               "Name": u["mailNickname"], "DisplayName": u["displayName"],
                               "ForwardingSmtpAddress": None, "DeliverToMailboxAndForward": False}
    recipients[bob["id"]]["ForwardingSmtpAddress"] = "smtp:drop@evil.example"
    recipients[dl["id"]] = {"RecipientTypeDetails": "MailUniversalDistributionGroup",
                            "PrimarySmtpAddress": dl["mail"], "Alias": "sales", "Name": "Sales DL",
                            "EmailAddresses": dl["proxyAddresses"]}
    rule = {"id": "AQAAAJ5dZqA=", "displayName": "Move invoices", "sequence": 1, "isEnabled": True,
            "hasError": False, "isReadOnly": False, "conditions": {"subjectContains": ["invoice"]},
            "actions": {"forwardTo": [{"emailAddress": {"name": "X", "address": "x@evil.example"}}],
                        "markAsRead": True, "stopProcessingRules": True}}
    hidden = {"Name": "", "Identity": "alice\\9999", "RuleIdentity": "9999", "Enabled": True,
              "Priority": 2, "DeleteMessage": True, "ForwardTo": None, "MarkAsRead": False}
    inbox = FolderSeed({"id": "inbox-" + tid[:8], "displayName": "Inbox", "parentFolderId": "root",
                        "childFolderCount": 0, "unreadItemCount": 0, "totalItemCount": 0}, "inbox")
    mailboxes = {alice["id"]: MailboxSeed(folders=[inbox], rules=[rule], hidden_rules=[hidden]),
                 bob["id"]: MailboxSeed(folders=[inbox])}
    skus = [{"id": f"{tid}_c7df2760-2c81-4ef7-b578-5b5392b571df", "capabilityStatus": "Enabled",
             "consumedUnits": 3, "skuId": "c7df2760-2c81-4ef7-b578-5b5392b571df",
             "skuPartNumber": "ENTERPRISEPREMIUM", "appliesTo": "User",
             "prepaidUnits": {"enabled": 25, "suspended": 0, "warning": 0, "lockedOut": 0},
             "servicePlans": [{"servicePlanId": "efb87545-963c-4e0d-99df-69c6916d9eb0",
                               "servicePlanName": "EXCHANGE_S_ENTERPRISE", "provisioningStatus": "Success",
                               "appliesTo": "User"}]}]
    org = {"id": tid, "displayName": domain.split(".")[0].title(), "tenantType": "AAD",
           "countryLetterCode": "US", "verifiedDomains": [{"capabilities": "Email", "isDefault": True,
                                                           "isInitial": True, "name": domain,
                                                           "type": "Managed"}]}
    return TenantSeed(tenant_id=tid, domain=domain, display_name=org["displayName"], organization=org,
                      users=users, groups=[g_outer, g_inner, dl], members=members, skus=skus,
                      recipients=recipients, mailboxes=mailboxes,
                      truth=GroundTruth(malicious_rules={(alice["id"], "AQAAAJ5dZqA=")}))


@dataclass
class ClientCert:
    key_pem: str
    cert_pem: str
    thumbprint: str


def make_client_cert() -> ClientCert:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "m365-sandbox-test-app")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2)).sign(key, hashes.SHA256()))
    return ClientCert(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()).decode(),
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        cert.fingerprint(hashes.SHA1()).hex().upper())


@pytest.fixture(scope="session")
def client_cert() -> ClientCert:
    return make_client_cert()


@pytest.fixture(scope="session")
def sandbox(client_cert: ClientCert) -> Sandbox:
    sb = Sandbox(profile="fast", clock=Clock())
    sb.register_app(CLIENT_ID, secret=SECRET, certificate_pem=client_cert.cert_pem, redirect_uris=[REDIRECT])
    return sb


@pytest.fixture(scope="session")
def server(sandbox: Sandbox) -> Iterator[SandboxServer]:
    with SandboxServer(sandbox) as srv:
        yield srv


@pytest.fixture
def sb(sandbox: Sandbox, server: SandboxServer) -> Iterator[Sandbox]:
    """A fresh state per test: tenants A (contoso, advanced consent) and B (fabrikam, basic)."""
    sandbox.reset()
    sandbox.clock = Clock(T0)
    sandbox.throttler.clock = sandbox.clock
    use_profile(sandbox, "fast")
    sandbox.add_tenant(make_seed(TENANT_A, "contoso.example"))
    sandbox.add_tenant(make_seed(TENANT_B, "fabrikam.example"))
    sandbox.grant_consent(TENANT_A, CLIENT_ID, "advanced")
    sandbox.grant_consent(TENANT_B, CLIENT_ID, "basic")
    yield sandbox
    sandbox.reset()


def use_profile(sb: Sandbox, name_or_profile: Any) -> None:
    profile = PROFILES[name_or_profile] if isinstance(name_or_profile, str) else name_or_profile
    sb.profile = profile
    sb.throttler.profile = profile


def get_token(server: SandboxServer, tenant: str, resource: str = "https://graph.microsoft.com",
              secret: str = SECRET) -> httpx.Response:
    with httpx.Client(verify=server.ca_file, trust_env=False) as c:
        return c.post(f"{server.url}/{tenant}/oauth2/v2.0/token",
                      data={"grant_type": "client_credentials", "client_id": CLIENT_ID,
                            "client_secret": secret, "scope": f"{resource}/.default"})


@pytest.fixture
def graph(sb: Sandbox, server: SandboxServer) -> Iterator[httpx.Client]:
    """An httpx client with a Graph token for tenant A."""
    token = get_token(server, TENANT_A).json()["access_token"]
    with httpx.Client(base_url=f"{server.url}/v1.0", verify=server.ca_file, trust_env=False,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        yield c
