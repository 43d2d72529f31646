"""Licensing: counts per policy, seats from SKUs, diffs between snapshots."""

from __future__ import annotations

from mailwarden.directory import (
    AddressBook,
    LicensePolicy,
    diff_books,
    diff_summary,
    license_counts,
    license_list,
    mailbox_seats,
)
from tests.directory._data import SKU_E5, small_state, user


def _counted(policy: LicensePolicy | None = None) -> set[str]:
    lic = license_list(AddressBook.from_state(small_state()), policy)
    return set(lic.loc[lic["counted"], "object_id"])


def test_default_policy_counts_enabled_licensed_member_user_mailboxes_only() -> None:
    assert _counted() == {"ann", "bob"}


def test_reasons_say_why_a_mailbox_is_not_counted() -> None:
    lic = license_list(AddressBook.from_state(small_state())).set_index("object_id")
    assert lic.loc["shared", "reason"] == "recipient type SharedMailbox not counted"
    assert lic.loc["dis", "reason"] == "disabled"
    assert lic.loc["unlic", "reason"] == "unlicensed"
    assert lic.loc["guest", "reason"] == "recipient type GuestMailUser not counted"
    assert "all" not in lic.index  # groups are not licence items


def test_policy_can_count_shared_disabled_unlicensed_and_guests() -> None:
    assert _counted(LicensePolicy(recipient_types=["UserMailbox", "SharedMailbox"], count_unlicensed=True)) \
        == {"ann", "bob", "shared", "unlic"}
    assert _counted(LicensePolicy(count_disabled=True)) == {"ann", "bob", "dis"}
    assert _counted(LicensePolicy(recipient_types=["UserMailbox", "GuestMailUser"], count_guests=True,
                                  count_unlicensed=True)) == {"ann", "bob", "unlic", "guest"}


def test_counts_total_protected_and_group_the_rest_by_reason() -> None:
    counts = license_counts(license_list(AddressBook.from_state(small_state())))
    assert counts["protected"] == 2
    assert counts["not_counted"]["disabled"] == 1
    assert counts["by_recipient_type"]["RoomMailbox"] == 1


def test_seats_sum_enabled_units_of_mailbox_skus_only() -> None:
    skus = [
        {"skuPartNumber": "ENTERPRISEPACK", "appliesTo": "User", "prepaidUnits": {"enabled": 25},
         "servicePlans": [{"servicePlanName": "EXCHANGE_S_ENTERPRISE"}]},
        {"skuPartNumber": "POWER_BI_STANDARD", "appliesTo": "User", "prepaidUnits": {"enabled": 1000},
         "servicePlans": [{"servicePlanName": "BI_AZURE_P0"}, {"servicePlanName": "EXCHANGE_S_FOUNDATION"}]},
        {"skuPartNumber": "EXCHANGESTANDARD", "appliesTo": "User", "prepaidUnits": {"enabled": 5},
         "servicePlans": [{"servicePlanName": "EXCHANGE_S_STANDARD"}]},
        {"skuPartNumber": "X", "appliesTo": "Company", "prepaidUnits": {"enabled": 9},
         "servicePlans": [{"servicePlanName": "EXCHANGE_S_STANDARD"}]},
    ]
    assert mailbox_seats(skus) == 30
    assert mailbox_seats([]) is None


def _pair():
    old_state = small_state()
    new_state = small_state()
    new_state.users["new"] = user("new", "New Hire", ["SMTP:new@contoso.com"])
    new_state.recipient_types["new"] = "UserMailbox"
    del new_state.users["unlic"]
    new_state.users["ann"]["proxyAddresses"] = ["SMTP:ann@contoso.com", "smtp:annie@contoso.com"]
    new_state.users["bob"]["assignedLicenses"] = [{"skuId": SKU_E5}]
    new_state.users["dis"]["accountEnabled"] = True
    new_state.members["fin"] = {"sec", "ann"}
    old, new = AddressBook.from_state(old_state), AddressBook.from_state(new_state)
    return diff_books(old, new, license_list(old), license_list(new))


def test_diff_reports_added_removed_and_changed_objects() -> None:
    diffs = {(d["change"], d["object_id"]) for d in _pair()}
    assert diffs == {("added", "new"), ("removed", "unlic"), ("changed", "ann"), ("changed", "bob"),
                     ("changed", "dis"), ("changed", "fin")}


def test_diff_details_name_aliases_licences_enabled_state_and_members() -> None:
    by_id = {d["object_id"]: d["details"] for d in _pair()}
    assert by_id["ann"]["aliases_added"] == ["annie@contoso.com"]
    assert by_id["ann"]["aliases_removed"] == ["al@contoso.net", "ann.lee@contoso.com"]
    assert by_id["ann"]["changes"] == ["aliases"]
    assert "licenses" in by_id["bob"]["changes"]
    assert by_id["dis"]["enabled_before"] is False and by_id["dis"]["enabled_after"] is True
    assert by_id["dis"]["counted_after"] is True
    assert by_id["fin"]["members_added"] == ["ann"]
    assert by_id["new"]["counted"] is True


def test_diff_summary_separates_group_changes() -> None:
    assert diff_summary(_pair()) == {"added": 1, "removed": 1, "changed": 3, "groups_changed": 1}


def test_identical_books_have_no_diff() -> None:
    a, b = AddressBook.from_state(small_state()), AddressBook.from_state(small_state())
    assert diff_books(a, b, license_list(a), license_list(b)) == []
