"""The Exchange Online admin API subset: ``POST /adminapi/beta/{tenant}/InvokeCommand``.

``models`` runs the cmdlets over a tenant's state (:class:`Cmdlets`), ``responses`` gives the
admin API's reply and error shapes and pages, ``urls`` the URL table.
"""

from m365sandbox.exchange.models import (
    DL_TYPES,
    MAILBOX_TYPES,
    CmdletError,
    Cmdlets,
    graph_rule_to_cmdlet,
    recipient_view,
)
from m365sandbox.exchange.urls import build_exchange_router

__all__ = ["DL_TYPES", "MAILBOX_TYPES", "CmdletError", "Cmdlets", "build_exchange_router",
           "graph_rule_to_cmdlet", "recipient_view"]
