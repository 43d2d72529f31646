"""Tenants cannot collide (issue 16, attack 7): one block name per domain, never another tenant's block.

``foo-bar.<x>`` and ``foo.bar.<x>`` used to map to one block name, so onboarding the second
overwrote the first and the first tenant's schedules then acted on the second. Block names are now
an injective, readable spelling of the domain (``.`` -> ``-``, ``-`` -> ``--``), and onboarding
refuses to save over a block that holds another tenant id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import consent_callback, save_app_blocks
from tests.system._support import admin_consents, call_back, consent_url, in_thread, onboard_params

LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z")
DOMAIN = st.builds(lambda labels, tld: ".".join([*labels, tld]),
                   st.lists(LABEL, min_size=1, max_size=4), st.from_regex(r"\A[a-z][a-z0-9]{1,5}\Z"))


def decode(block_name: str) -> str:
    """The domain a block name spells (``--`` -> ``-``, ``-`` -> ``.``): proof that none is shared."""
    return re.sub(r"--|-", lambda m: "-" if m.group() == "--" else ".", block_name)


@pytest.mark.parametrize(
    ("one", "other"),
    [("foo-bar.com", "foo.bar.com"), ("a-b.c-d.com", "a.b-c.d.com"), ("a--b.com", "a-b.com"),
     ("xn--bcher-kva.example", "xn-bcher-kva.example"), ("foo-bar-com.example", "foo.bar.com.example")],
)
def test_domains_that_shared_a_block_name_now_have_their_own(one: str, other: str) -> None:
    from blocks.m365 import tenant_block_name

    assert tenant_block_name(one) != tenant_block_name(other)


@given(DOMAIN)
def test_a_block_name_spells_exactly_one_domain(domain: str) -> None:
    from blocks.m365 import tenant_block_name

    name = tenant_block_name(domain)
    assert re.fullmatch(r"[a-z0-9-]+", name)  # what Prefect allows in a block document name
    assert decode(name) == domain  # injective: the name gives the domain back
    assert tenant_block_name(name) == name  # a block name names itself (flows take either)
    assert tenant_block_name(domain.upper()) == name


def test_block_names_stay_readable() -> None:
    from blocks.m365 import tenant_block_name

    assert tenant_block_name("contoso.com") == "contoso-com"
    assert tenant_block_name("Fabrikam.onmicrosoft.com") == "fabrikam-onmicrosoft-com"
    assert tenant_block_name("foo-bar.com") == "foo--bar-com"


# --- onboarding, through the consent link, as the operator (or an attacker who can start runs) ---

@pytest.fixture(scope="module")
def callback(embedded: Any, prefect_harness: None) -> Iterator[Any]:
    with consent_callback(embedded) as srv:
        yield srv


@pytest.fixture(scope="module")
def app_blocks(embedded: Any, callback: Any) -> dict[str, str]:
    return save_app_blocks(embedded, callback, "sec-names")


def _onboard(domain: str, blocks: dict[str, str], embedded: Any) -> Any:
    """Run onboard-tenant for ``domain``, consent as its admin, and return the run's final state."""
    from flows.onboarding import onboard_tenant

    thread, box = in_thread(onboard_tenant, **onboard_params(domain, blocks, embedded))
    page = call_back(admin_consents(consent_url(domain, "basic", thread), embedded.ca_file))
    assert page.status_code == 200, page.text
    thread.join(90)
    assert not thread.is_alive(), "the onboarding run did not finish"
    return box["state"]


def _document(name: str) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_block_document_by_name(name, block_type_slug="m365-tenant", include_secrets=True)


@pytest.mark.usefixtures("prefect_harness")
def test_onboarding_foo_bar_then_foo_dot_bar_gives_two_blocks(
    embedded: Any, tenant_factory: Any, app_blocks: dict[str, str],
) -> None:
    from blocks.m365 import M365Tenant

    x = uuid.uuid4().hex[:8]
    _, first = tenant_factory(users=10, consent=None, domain=f"foo-bar.{x}.example")
    _, second = tenant_factory(users=10, consent=None, domain=f"foo.bar.{x}.example")

    done_first = _onboard(first.domain, app_blocks, embedded)
    assert done_first.is_completed(), done_first
    name_first = done_first.result()["block_name"]
    before = _document(name_first)

    done_second = _onboard(second.domain, app_blocks, embedded)
    assert done_second.is_completed(), done_second
    name_second = done_second.result()["block_name"]

    assert name_first != name_second
    assert cast(M365Tenant, M365Tenant.load(name_first)).tenant_id == first.id
    assert cast(M365Tenant, M365Tenant.load(name_second)).tenant_id == second.id
    after = _document(name_first)
    assert (after.id, after.data) == (before.id, before.data)  # the first tenant's block is untouched


@pytest.mark.usefixtures("prefect_harness")
def test_a_block_name_held_by_another_tenant_fails_onboarding_and_leaves_that_block_alone(
    embedded: Any, tenant_factory: Any, app_blocks: dict[str, str],
) -> None:
    """A tenant connected under the old naming (``foo-bar.<x>`` saved as ``foo-bar-<x>-...``) holds the
    name ``foo.bar.<x>`` maps to now; onboarding ``foo.bar.<x>`` fails with a clear error instead of
    taking it, the holder's block and its store row keep working."""
    from blocks.m365 import tenant_block_name
    from mailwarden.store.repositories import get_tenant, upsert_tenant
    from tasks.common import store_for
    from tasks.onboarding import find_connected_tenant

    x = uuid.uuid4().hex[:8]
    holder_block, holder = tenant_factory(users=10, consent="basic", domain=f"foo-bar.{x}.example")
    _, newcomer = tenant_factory(users=10, consent=None, domain=f"foo.bar.{x}.example")
    old_name = f"foo-bar-{x}-example"  # what the old mapping gave foo-bar.<x>.example
    assert tenant_block_name(newcomer.domain) == old_name
    holder_block.save(old_name, overwrite=True)
    with store_for(None).session() as s:
        upsert_tenant(s, holder.id, holder.domain, block_name=old_name, consent_state="ready")
    before = _document(old_name)

    state = _onboard(newcomer.domain, app_blocks, embedded)
    assert state.is_failed(), state
    with pytest.raises(Exception, match=rf"{old_name}.*another tenant.*{holder.id}"):
        state.result()
    after = _document(old_name)
    assert (after.id, after.data) == (before.id, before.data)
    with store_for(None).session() as s:
        assert get_tenant(s, newcomer.id) is None
        assert get_tenant(s, holder.id).block_name == old_name  # type: ignore[union-attr]
    found = find_connected_tenant.fn(holder.domain)  # the holder is still found through its store row
    assert found is not None and found.tenant_id == holder.id
