"""AddressBook: aliases, nested groups, conflicts, internal addresses, executives."""

from __future__ import annotations

import pandas as pd

from mailwarden.directory import AddressBook, normalize_address, transitive_closure
from tests.directory._data import small_state, user


def test_aliases_resolve_case_insensitively_to_their_mailbox() -> None:
    book = AddressBook.from_state(small_state())
    for addr in ("ann@contoso.com", "ANN.LEE@contoso.COM", "<al@Contoso.net>", "mailto:ann@contoso.com",
                 "SMTP:ann@contoso.com", "ann@contoso.com"):
        assert book.resolve(addr) == {"ann"}, addr
    assert book.mailbox_of("Ann.Lee@contoso.com") == "ann"


def test_non_smtp_proxy_addresses_are_not_addresses() -> None:
    book = AddressBook.from_state(small_state())
    assert book.resolve("/o=ExchangeLabs/cn=ann") == set()
    assert not (book.addresses["address"].str.startswith("/o=")).any()


def test_primary_address_comes_from_the_uppercase_smtp_entry() -> None:
    book = AddressBook.from_state(small_state())
    assert book.objects.loc["ann", "primary_address"] == "ann@contoso.com"
    primaries = book.addresses[book.addresses["object_id"].eq("ann") & book.addresses["is_primary"]]
    assert list(primaries["address"]) == ["ann@contoso.com"]


def test_group_address_resolves_to_member_mailboxes_through_nested_groups_and_cycles() -> None:
    book = AddressBook.from_state(small_state())
    # all -> {fin, ann}; fin -> sec; sec -> {bob, all}: a cycle, still finite
    assert book.resolve("all@contoso.com") == {"ann", "bob"}
    assert book.resolve("money@contoso.com") == {"bob", "ann"}
    assert book.mailbox_of("all@contoso.com") is None


def test_transitive_closure_marks_direct_and_nested_members() -> None:
    direct = pd.DataFrame({"group_id": ["a", "b", "c"], "member_id": ["b", "c", "u"]})
    closure = transitive_closure(direct)
    pairs = {(r.group_id, r.member_id): r.transitive for r in closure.itertuples()}
    assert pairs == {("a", "b"): False, ("b", "c"): False, ("c", "u"): False,
                     ("a", "c"): True, ("b", "u"): True, ("a", "u"): True}


def test_one_address_on_two_objects_is_reported_as_a_conflict_and_resolves_to_both() -> None:
    state = small_state()
    state.users["cat"] = user("cat", "Cat", ["SMTP:cat@contoso.com", "smtp:ann.lee@contoso.com"])
    state.recipient_types["cat"] = "UserMailbox"
    book = AddressBook.from_state(state)
    assert list(book.conflicts["address"]) == ["ann.lee@contoso.com"]
    assert book.conflicts["object_ids"].iloc[0] == ["ann", "cat"]
    assert book.resolve("ann.lee@contoso.com") == {"ann", "cat"}
    assert book.mailbox_of("ann.lee@contoso.com") is None  # ambiguous


def test_mail_and_upn_are_addresses_of_the_object() -> None:
    book = AddressBook.from_state(small_state())
    assert book.resolve("bob@contoso.com") == {"bob"}
    assert book.owners("Bob@Contoso.com") == ("bob",)


def test_is_internal_covers_tenant_addresses_and_verified_domains_but_not_guests() -> None:
    book = AddressBook.from_state(small_state())
    assert book.is_internal("al@contoso.net")
    assert book.is_internal("nobody-yet@CONTOSO.com")  # verified domain
    assert not book.is_internal("gus@partner.com")  # a guest's own outside address
    assert not book.is_internal("x@evil.example")


def test_unknown_address_resolves_to_nothing() -> None:
    book = AddressBook.from_state(small_state())
    assert book.resolve("ghost@contoso.com") == set()
    assert book.mailbox_of("ghost@contoso.com") is None


def test_executives_are_found_by_job_title() -> None:
    book = AddressBook.from_state(small_state())
    assert book.executives() == {"bob"}
    assert book.detection_context_kwargs()["executives"] == frozenset({"Bob Roe"})


def test_display_names_map_people_and_mailboxes_to_primary_addresses_without_guests() -> None:
    names = AddressBook.from_state(small_state()).display_names()
    assert names["Ann Lee"] == "ann@contoso.com"
    assert names["Info"] == "info@contoso.com"
    assert "Gus Guest" not in names


def test_normalize_address_strips_brackets_prefixes_and_case() -> None:
    assert normalize_address(" <SMTP:Ann@X.COM> ") == "ann@x.com"
    assert normalize_address("mailto:B@y.org") == "b@y.org"
