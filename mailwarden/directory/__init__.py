"""Directory sync and licensing: users, groups, aliases and recipient types -> address book.

* :class:`AddressBook` -- every address resolved to mailboxes (aliases, nested groups), conflicts;
* :class:`LicensePolicy`, :func:`license_list`, :func:`diff_books` -- protected mailboxes and changes;
* :func:`sync_directory` -- full or delta sync through Graph and the Exchange admin API;
* :func:`save_snapshot` / :func:`load_snapshot` -- atomic snapshots in the store;
  :func:`write_cache` keeps the latest on local disk so that a delta run starts fast, and
  :meth:`AddressBook.updated` rebuilds only what a delta changed.
"""

from mailwarden.directory.address_book import AddressBook, BookChanges, normalize_address, transitive_closure
from mailwarden.directory.cache import read_cache, write_cache
from mailwarden.directory.licensing import (
    LicensePolicy,
    diff_books,
    diff_summary,
    license_counts,
    license_list,
    mailbox_seats,
    reconcile,
)
from mailwarden.directory.persist import (
    delta_links,
    load_snapshot,
    load_state,
    previous_seats,
    save_snapshot,
    snapshot_key,
)
from mailwarden.directory.report import Reconciliation, alerts, summary_markdown, write_exports
from mailwarden.directory.state import DirectoryState, apply_group_delta, apply_user_delta
from mailwarden.directory.sync import SyncResult, delta_sync, full_sync, sync_directory

__all__ = [
    "AddressBook",
    "BookChanges",
    "DirectoryState",
    "LicensePolicy",
    "Reconciliation",
    "SyncResult",
    "alerts",
    "apply_group_delta",
    "apply_user_delta",
    "delta_links",
    "delta_sync",
    "diff_books",
    "diff_summary",
    "full_sync",
    "license_counts",
    "license_list",
    "load_snapshot",
    "load_state",
    "mailbox_seats",
    "normalize_address",
    "previous_seats",
    "read_cache",
    "reconcile",
    "save_snapshot",
    "snapshot_key",
    "summary_markdown",
    "sync_directory",
    "transitive_closure",
    "write_cache",
    "write_exports",
]
