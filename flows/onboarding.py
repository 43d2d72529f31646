"""Flows ``onboard-tenant`` and ``offboard-tenant``: connecting a customer tenant, and letting go.

Onboarding steps (each a task in ``tasks/onboarding.py`` with its own retries):

1. validate the parameters (before any I/O; unknown fields are refused), load the app blocks;
   the hosts are Microsoft's for the cloud, or the server's sandbox (``MAILWARDEN_SANDBOX_URL``),
   never a parameter (``tasks/onboarding.py``); find out whether the tenant is connected (and
   which consents it lacks) and which tenant id a consent must come back from;
2. per app the tier needs (basic; advanced adds a second app): build the admin-consent URL with a
   fresh ``state``, record the request (state hash, run id, expiry), show the URL as a Markdown
   artifact ``consent-url-<tenant>`` (``...-advanced`` for the second app), named in the logs
   (the link itself, one-time state and all, never goes to the logs);
3. wait for the consent callback (``deployments/callback.py``) to resume the run with a
   :class:`ConsentResult`; a refusal fails the run with the admin's reason, no answer within
   the timeout fails it with a message saying how to try again;
4. poll readiness (a read-only call per capability, with backoff, up to a limit) and publish a
   ``readiness-<tenant>`` table artifact; past the limit the run fails naming what is missing;
5. save the tenant's ``M365Tenant`` block (updated in place when it exists; a block name that
   holds another tenant's block fails the run and is left alone) and register the
   tenant in the store; add its schedules (``tasks/schedules.py``); notify; optionally mail the
   admin; start the first directory sync. Offboarding removes the schedules.

Running it again for a connected tenant asks only for the consents it lacks (advanced tier on a
basic tenant), or for all of them with ``update=True`` ("update permissions"); the block and
the store rows are updated, never recreated.

Why ``pause_flow_run`` and not ``suspend_flow_run``: a suspended run is torn down and re-run from
the start on resume, so the consent step would have to persist its result -- and the consent
URL carries the ``state``, which must live only in the operator's browser and (hashed) in our
store, not in Prefect's result storage. Suspension also needs a deployment, while operators and
tests call this flow directly. Consent takes minutes, so the run keeps its process while it
waits (it is a cheap sleeping poll, not a busy worker slot); if that process dies, the run
times out and re-running it issues a fresh link.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from mailwarden.onboarding import (
    AppSources,
    CloudName,
    ConsentRefused,
    ConsentTimeout,
    ReadinessOptions,
    Tier,
    TierName,
    check_request,
    check_same_tenant,
    connected_notice,
    expected_tenant_id,
    final_tier,
    offboarded_notice,
    organization_of,
    plan_consents,
)
from tasks.common import load_tenant
from tasks.notify import notify_task
from tasks.onboarding import (
    ConsentResult,
    check_readiness,
    discover_tenant,
    find_connected_tenant,
    forget_tenant,
    load_apps,
    mail_admin,
    readiness_artifact_key,
    record_tenant,
    save_tenant_block,
    start_consent,
    start_first_sync,
    store_url_for,
    wait_for_consent,
)
from tasks.schedules import add_tenant_schedules, remove_tenant_schedules

__all__ = [
    "AppSources",
    "ConsentRefused",
    "ConsentResult",
    "ConsentTimeout",
    "ReadinessOptions",
    "offboard_tenant",
    "onboard_tenant",
    "plan_consents",
]


@flow(name="onboard-tenant")
def onboard_tenant(
    tenant: str,
    cloud: CloudName = "global",
    tier: TierName = "basic",
    update: bool = False,
    notify_target: str | None = None,
    admin_email: str | None = None,
    mail_from: str | None = None,
    store_url: str | None = None,
    store_url_secret: str | None = None,
    consent_timeout_minutes: float = 30.0,
    readiness: ReadinessOptions | None = None,
    apps: AppSources | None = None,
) -> dict[str, Any]:
    """Connect a Microsoft 365 tenant: admin consent, readiness, block, notification, first sync.

    Args:
        tenant: the tenant's primary domain or tenant id (GUID).
        cloud: global (incl. GCC), usgov-gcchigh, usgov-dod or china (21Vianet).
        tier: basic (mail protection) or advanced (adds identity response; a second consent).
        update: ask for consent again even for apps already consented ("Update permissions").
        notify_target: name of a Prefect notification block (Slack, Teams, custom webhook).
        admin_email: mail a notice to this admin through Graph sendMail (from ``mail_from``).
        mail_from: the tenant mailbox the notice is sent from (default: ``admin_email``).
        store_url: this tenant's own database URL (data residency), without a password.
        store_url_secret: name of a Secret block holding the store URL (with its password).
        consent_timeout_minutes: how long each consent link stays valid and the run waits.
        readiness: how long and how often to check that consent has propagated.
        apps: where the app registrations and the redirect URI come from.
    """
    # 1. the parameters, before any I/O; the app blocks; which consents are missing
    readiness = readiness or ReadinessOptions()
    apps = apps or AppSources()
    ref = check_request(tenant, consent_timeout_minutes=consent_timeout_minutes, readiness=readiness,
                        admin_email=admin_email, store_url=store_url)
    own_store = store_url_for(store_url, store_url_secret)
    basic_app, advanced_app = load_apps(tier, apps.basic_app_block, apps.advanced_app_block)
    existing = find_connected_tenant(ref)
    plan = plan_consents(tier, existing, update)
    # know which tenant to expect before trusting a consent callback
    tenant_id = expected_tenant_id(ref, existing) or discover_tenant(ref, cloud)
    if not plan:
        get_run_logger().info("%s is already connected at the %s tier: re-checking readiness only", ref, tier)

    # 2.-3. per app: a consent link for the admin, then the callback's answer
    for step in plan:
        app = basic_app if step is Tier.BASIC else advanced_app
        assert app is not None
        start_consent(ref, step.value, app, cloud, apps.redirect_uri or app.redirect_uri, consent_timeout_minutes)
        tenant_id = wait_for_consent(ref, step, consent_timeout_minutes, apps.consent_poll_seconds,
                                     expected=tenant_id)

    # 4. readiness, until every granted capability answers (or the limit)
    advanced = advanced_app or (existing.advanced_app if existing is not None else None)
    ready = check_readiness(tenant_id, cloud, basic_app, advanced, limit_seconds=readiness.limit_seconds,
                            initial_delay=readiness.initial_delay, max_delay=readiness.max_delay,
                            artifact_key=readiness_artifact_key(ref))
    check_same_tenant(ref, tenant_id, organization_of(ready["verified_domains"]))

    # 5. the block, the store, the schedules; tell the operator (and the admin); the first sync
    domain = ready["primary_domain"]
    block_name = save_tenant_block(existing, tenant_id, domain, cloud, basic_app, advanced, own_store)
    record_tenant(block_name)
    add_tenant_schedules(block_name)
    subject, body = connected_notice(domain, tenant_id, cloud, final_tier(advanced), ready["rows"],
                                     updated=existing is not None)
    notify_task(notify_target, subject, body)
    if admin_email:
        mail_admin(block_name, mail_from or admin_email, admin_email, subject, body)
    sync_run = start_first_sync(apps.first_sync_deployment, block_name)
    return {
        "tenant_id": tenant_id,
        "block_name": block_name,
        "tier": final_tier(advanced),
        "cloud": cloud,
        "readiness": ready["rows"],
        "consented": [t.value for t in plan],
        "first_sync_run": sync_run,
    }


@flow(name="offboard-tenant")
def offboard_tenant(
    tenant: str, purge_data: bool = False, notify_target: str | None = None
) -> dict[str, Any]:
    """Disconnect a tenant: remove its block and cached tokens; keep or purge its stored data.

    Args:
        tenant: the tenant's block name or primary domain.
        purge_data: also delete its directory, findings, audit and other rows (the tenant
            registry row stays, marked offboarded).
        notify_target: name of a Prefect notification block to tell.
    """
    block = load_tenant(tenant)
    result = forget_tenant(block.block_name, purge_data)
    remove_tenant_schedules(block.block_name)
    notify_task(notify_target, *offboarded_notice(result["domain"], result["tenant_id"], purged=purge_data))
    return result
