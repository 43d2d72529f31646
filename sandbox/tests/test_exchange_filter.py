"""Exchange admin API: the OPATH ``-Filter`` of Get-Recipient and Get-Mailbox."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from m365sandbox import Sandbox, SandboxServer, opath
from tests.conftest import TENANT_A, get_token
from tests.test_exchange import ALICE, BOB, EXO, invoke


@pytest.fixture
def exo(sb: Sandbox, server: SandboxServer) -> Iterator[httpx.Client]:
    token = get_token(server, TENANT_A, EXO).json()["access_token"]
    with httpx.Client(base_url=server.url, verify=server.ca_file, trust_env=False,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def _ids(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return sorted(r["ExternalDirectoryObjectId"] for r in resp.json()["value"])


def test_filter_on_object_ids_returns_just_those_recipients(exo: httpx.Client) -> None:
    flt = f"ExternalDirectoryObjectId -eq '{ALICE}' -or ExternalDirectoryObjectId -eq '{BOB}' " \
          "-or ExternalDirectoryObjectId -eq 'ffffffff-0000-4000-8000-000000000000'"
    assert _ids(invoke(exo, "Get-Recipient", {"Filter": flt, "ResultSize": "Unlimited"})) == sorted([ALICE, BOB])


def test_filter_on_other_properties_and_mailboxes(exo: httpx.Client) -> None:
    every = _ids(invoke(exo, "Get-Mailbox", {"ResultSize": "Unlimited"}))
    assert _ids(invoke(exo, "Get-Mailbox", {"Filter": "PrimarySmtpAddress -eq 'BOB@contoso.example'"})) == [BOB]
    assert _ids(invoke(exo, "Get-Mailbox", {"Filter": "(PrimarySmtpAddress -like 'bob@*')"})) == [BOB]
    assert BOB not in _ids(invoke(exo, "Get-Mailbox", {"Filter": "PrimarySmtpAddress -ne 'bob@contoso.example'"}))
    both = "PrimarySmtpAddress -like '*@contoso.example' -and RecipientTypeDetails -eq 'UserMailbox'"
    assert set(_ids(invoke(exo, "Get-Mailbox", {"Filter": both}))) <= set(every)


def test_a_filter_it_cannot_read_is_a_parameter_error(exo: httpx.Client) -> None:
    resp = invoke(exo, "Get-Recipient", {"Filter": "Name -gt 'a'"})
    assert resp.status_code == 400 and "Filter" in resp.json()["error"]["innererror"]["message"]


def test_parse_groups_and_quotes() -> None:
    assert opath.parse("A -eq 'x' -and B -ne \"y\" -or C -like 'it''s*'") == [
        [("a", "eq", "x"), ("b", "ne", "y")], [("c", "like", "it's*")]]
    with pytest.raises(ValueError):
        opath.parse("A -eq 'x' B -eq 'y'")
