"""A hybrid sandbox tenant for tests: some mailboxes on-premises, the block wired to the EWS endpoint."""

from __future__ import annotations

import secrets
from typing import Any

from m365sandbox.ews import PATH, add_onprem_account, is_onprem
from pydantic import SecretStr


def hybrid_tenant(tenant_factory: Any, embedded: Any, *, onprem_share: float = 0.5, password: str | None = None,
                  **kwargs: Any) -> tuple[Any, Any, list[str]]:
    """(block, state, on-premises mailbox ids): an on-premises service account is created and the
    block's EWS fields point at the sandbox (``password`` overrides what the block holds)."""
    block, state = tenant_factory(onprem_share=onprem_share, **kwargs)
    user, real = f"svc-ews@{state.domain}", secrets.token_urlsafe(16)
    add_onprem_account(state, user, real)
    block = block.model_copy(update={"ews_url": f"{embedded.url}{PATH}", "ews_auth_type": "basic",
                                     "ews_username": user, "ews_password": SecretStr(password or real)})
    onprem = sorted(uid for uid in state.users if is_onprem(state, uid))
    return block, state, onprem
