"""Full and delta sync against fake clients: requests made, fallback, recipient lookups."""

from __future__ import annotations

from typing import Any

from mailwarden.directory import sync_directory
from mailwarden.graph import DeltaExpired, DeltaPage
from tests.directory._data import small_state, user

TID = "11111111-1111-1111-1111-111111111111"


class FakeGraph:
    def __init__(self, users: list[dict], groups: list[dict], expired: bool = False) -> None:
        self.users, self.groups, self.expired = users, groups, expired
        self.calls: list[tuple[str, Any]] = []

    def get(self, path: str, *, params: Any = None, headers: Any = None) -> dict:
        self.calls.append((path, params))
        return {"value": [{"verifiedDomains": [{"name": "contoso.com"}]}]}

    def iter_pages(self, path: str, *, params: Any = None, headers: Any = None) -> Any:
        self.calls.append((path, params))
        return iter([{"skuId": "s", "prepaidUnits": {"enabled": 3}}])

    def delta(self, link: str, *, params: Any = None, headers: Any = None) -> DeltaPage:
        self.calls.append((link, params))
        if self.expired and "deltatoken" in link:
            raise DeltaExpired(410, "syncStateNotFound", "gone", None)
        items = self.users if "users" in link else self.groups
        return DeltaPage(items=items, delta_link=link.split("?")[0] + "?$deltatoken=next")


class FakeExchange:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def iter_invoke(self, cmdlet: str, parameters: Any = None) -> Any:
        self.calls.append((cmdlet, parameters))
        return iter([{"ExternalDirectoryObjectId": "ann", "RecipientTypeDetails": "UserMailbox"}])

    def invoke(self, cmdlet: str, parameters: Any = None) -> list[dict]:
        self.calls.append((cmdlet, parameters))
        return [{"ExternalDirectoryObjectId": parameters["Identity"],
                 "RecipientTypeDetails": "SharedMailbox"}]


LINKS = {"users": "https://g/v1.0/users/delta?$deltatoken=a", "groups": "https://g/v1.0/groups/delta?$deltatoken=b"}


def test_first_sync_is_a_full_delta_round_with_select_and_page_size() -> None:
    g, x = FakeGraph([user("ann", "Ann", ["SMTP:ann@contoso.com"])], [{"id": "grp", "members@delta": []}]), \
        FakeExchange()
    result = sync_directory(g, x, TID, None, {})
    assert result.mode == "full" and set(result.state.users) == {"ann"}
    users_call = next(c for c in g.calls if c[0] == "/users/delta")
    assert "proxyAddresses" in users_call[1]["$select"] and users_call[1]["$top"] == 999
    assert "members" in next(c for c in g.calls if c[0] == "/groups/delta")[1]["$select"]
    assert x.calls == [("Get-Recipient", {"ResultSize": "Unlimited"})]
    assert result.links["users"].endswith("$deltatoken=next")


def test_delta_sync_uses_the_links_and_looks_up_only_new_recipients() -> None:
    previous = small_state()
    g = FakeGraph([user("new", "New", ["SMTP:new@contoso.com"]), {"id": "ann", "displayName": "Ann L"}],
                  [])
    x = FakeExchange()
    result = sync_directory(g, x, TID, previous, LINKS)
    assert result.mode == "delta"
    assert [c[0] for c in g.calls if "delta" in c[0]] == [LINKS["users"], LINKS["groups"]]
    assert x.calls == [("Get-Recipient", {"Identity": "new"})]
    assert result.state.recipient_types["new"] == "SharedMailbox"
    assert previous.users["ann"]["displayName"] == "Ann Lee"  # the previous state is untouched


def test_many_new_objects_use_one_full_get_recipient_instead() -> None:
    g = FakeGraph([user(f"u{i}", "U", [f"SMTP:u{i}@contoso.com"]) for i in range(5)], [])
    x = FakeExchange()
    result = sync_directory(g, x, TID, small_state(), LINKS, max_recipient_lookups=3)
    assert x.calls == [("Get-Recipient", {"ResultSize": "Unlimited"})]
    assert result.recipient_lookups == "full"


def test_expired_delta_token_falls_back_to_full() -> None:
    g = FakeGraph([user("ann", "Ann", ["SMTP:ann@contoso.com"])], [], expired=True)
    result = sync_directory(g, FakeExchange(), TID, small_state(), LINKS)
    assert result.mode == "full" and "syncStateNotFound" in (result.fallback_reason or "")
    assert set(result.state.users) == {"ann"}


def test_full_flag_forces_a_full_sync() -> None:
    g = FakeGraph([], [])
    assert sync_directory(g, FakeExchange(), TID, small_state(), LINKS, full=True).mode == "full"
    assert all("deltatoken" not in c[0] for c in g.calls)


class FilterExchange(FakeExchange):
    """Answers ``-Filter "ExternalDirectoryObjectId -eq '...' -or ..."``; ``u3`` is no recipient."""

    def iter_invoke(self, cmdlet: str, parameters: Any = None) -> Any:
        import re

        self.calls.append((cmdlet, parameters))
        ids = re.findall(r"ExternalDirectoryObjectId -eq '([^']*)'", parameters["Filter"])
        return iter([{"ExternalDirectoryObjectId": i, "RecipientTypeDetails": "UserMailbox"}
                     for i in ids if i != "u3"])


def test_several_new_objects_are_looked_up_with_one_filter_call_each_batch() -> None:
    from mailwarden.directory.sync import lookup_recipient_types

    g = FakeGraph([user(f"u{i}", "U", [f"SMTP:u{i}@contoso.com"]) for i in range(5)], [])
    x = FilterExchange()
    result = sync_directory(g, x, TID, small_state(), LINKS)
    assert len(x.calls) == 1 and x.calls[0][1]["Filter"].count("-or") == 4
    assert {u: result.state.recipient_types.get(u) for u in ("u0", "u3")} == {"u0": "UserMailbox", "u3": None}
    assert result.recipient_lookups == "5 lookups"
    x = FilterExchange()
    got = lookup_recipient_types(x, [f"u{i}" for i in range(5)], batch=2)
    assert len(x.calls) == 3 and got == {"u0": "UserMailbox", "u1": "UserMailbox", "u2": "UserMailbox",
                                         "u3": None, "u4": "UserMailbox"}
