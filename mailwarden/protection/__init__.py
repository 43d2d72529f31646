"""Continuous protection of new mail (no Prefect here).

- :mod:`.subscriptions`: one Graph change-notification subscription per protected mailbox,
  planned against the directory, created, renewed, deleted;
- :mod:`.notifications`: screening of incoming notifications (subscription, tenant, clientState);
- :mod:`.protect`: one message -> claim once -> verdict -> the tenant's policy action (audited);
- :mod:`.sweep`: the per-folder message delta fallback from a stored delta link;
- :mod:`.drain`: processing the durable notification queue in batches;
- :mod:`.report`: what the runbooks report (subscription health, drained batches, sweeps).
"""

from mailwarden.protection.drain import DrainResult, drain_once, process_batch
from mailwarden.protection.notifications import Accepted, Refused, screen
from mailwarden.protection.protect import (
    POLICY_ACTIONS,
    ProtectionPolicy,
    ProtectOutcome,
    fetch_message,
    notify_owner,
    protect_message,
)
from mailwarden.protection.report import (
    DeltaSweepReport,
    MailboxSweep,
    NotificationBatch,
    NotificationRun,
    ProtectionReport,
    SubscriptionHealth,
    SubscriptionSync,
    subscription_health,
)
from mailwarden.protection.subscriptions import (
    DEFAULT_LIFETIME,
    DEFAULT_RENEW_BEFORE,
    MAX_LIFETIME,
    SubscriptionPlan,
    SyncResult,
    create_subscription,
    plan_subscriptions,
    remove_subscription,
    renew_subscription,
    resource_for,
    sync_subscriptions,
)
from mailwarden.protection.sweep import SweepResult, delta_resource, sweep_folder

__all__ = [
    "DEFAULT_LIFETIME",
    "DEFAULT_RENEW_BEFORE",
    "MAX_LIFETIME",
    "POLICY_ACTIONS",
    "Accepted",
    "DeltaSweepReport",
    "DrainResult",
    "MailboxSweep",
    "NotificationBatch",
    "NotificationRun",
    "ProtectOutcome",
    "ProtectionPolicy",
    "ProtectionReport",
    "Refused",
    "SubscriptionHealth",
    "SubscriptionPlan",
    "SubscriptionSync",
    "SweepResult",
    "SyncResult",
    "create_subscription",
    "delta_resource",
    "drain_once",
    "fetch_message",
    "notify_owner",
    "plan_subscriptions",
    "process_batch",
    "protect_message",
    "remove_subscription",
    "renew_subscription",
    "resource_for",
    "screen",
    "subscription_health",
    "sweep_folder",
    "sync_subscriptions",
]
