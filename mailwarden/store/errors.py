"""Errors raised by the store's repositories.

```
StoreError
 ├── RecordNotFound (also LookupError)   a run, action or subscription that does not exist
 └── ConsentRequestError                 the onboarding callback's state check failed
      ├── ConsentRequestUnknown          no request with this state
      ├── ConsentRequestExpired          past expires_at
      └── ConsentRequestReused           already consumed once
```
Messages never contain the state value itself.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors."""


class RecordNotFound(StoreError, LookupError):
    """The record asked for does not exist."""


class ConsentRequestError(StoreError):
    """An admin-consent callback's ``state`` was refused."""


class ConsentRequestUnknown(ConsentRequestError):
    """No consent request carries this state."""


class ConsentRequestExpired(ConsentRequestError):
    """The consent request expired before the callback came back."""


class ConsentRequestReused(ConsentRequestError):
    """The consent request was already used: a replayed callback."""
