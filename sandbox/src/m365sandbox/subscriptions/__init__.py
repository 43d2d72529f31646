"""Graph change notifications for Outlook messages (``/v1.0/subscriptions``).

``models`` holds the subscriptions, the validation handshake and the senders
(:class:`SubscriptionHub`, one per sandbox: :func:`hub_of`), ``responses`` the Graph handlers,
``urls`` the URL table; the control routes live in :mod:`m365sandbox.control`.
"""

from m365sandbox.subscriptions.models import (
    CHANGE_TYPES,
    LIFECYCLE_EVENTS,
    MAX_MESSAGE_MINUTES,
    VALIDATION_TIMEOUT,
    Sub,
    SubscriptionHub,
    hub_of,
)
from m365sandbox.subscriptions.urls import build_subscription_router

__all__ = ["CHANGE_TYPES", "LIFECYCLE_EVENTS", "MAX_MESSAGE_MINUTES", "VALIDATION_TIMEOUT", "Sub",
           "SubscriptionHub", "build_subscription_router", "hub_of"]
