"""Entra ID over TLS: OIDC discovery, JWKS, the v2.0 token endpoint (client credentials with a
secret or a certificate) and admin consent; access-token validation for Graph and Exchange.

``models`` holds the grant, consent and validation logic, ``responses`` Azure AD's reply shapes,
``urls`` the URL table.
"""

from m365sandbox.identity.models import (
    ASSERTION_TYPE,
    EXCHANGE_APP_ID,
    GRAPH_APP_ID,
    AadError,
    TokenRejected,
    resource_of,
    validate_access_token,
)
from m365sandbox.identity.urls import build_identity_router

__all__ = ["ASSERTION_TYPE", "EXCHANGE_APP_ID", "GRAPH_APP_ID", "AadError", "TokenRejected",
           "build_identity_router", "resource_of", "validate_access_token"]
