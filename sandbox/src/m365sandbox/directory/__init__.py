"""Graph v1.0 directory: organization, subscribedSkus, users, groups, members, memberships,
directory roles, delta and ``$count``.

``models`` holds the behaviour over a tenant's state (:class:`DirectoryBackend`), ``responses``
the route handlers (permissions, query parsing, Graph's envelopes), ``urls`` the URL table.
"""

from m365sandbox.directory.models import (
    GROUP_DEFAULT,
    GROUP_PROPERTIES,
    USER_DEFAULT,
    USER_PROPERTIES,
    DirectoryBackend,
    strong_password,
)
from m365sandbox.directory.urls import build_directory_router

__all__ = ["GROUP_DEFAULT", "GROUP_PROPERTIES", "USER_DEFAULT", "USER_PROPERTIES", "DirectoryBackend",
           "build_directory_router", "strong_password"]
