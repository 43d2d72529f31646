"""The seeded tenant generator: ``generate_tenant(seed=1, users=50)`` -> :class:`~m365sandbox.seed.TenantSeed`.

Modules: ``tenant`` (:func:`generate_tenant`, the organisation), ``directory`` (users, groups,
licences, recipients, the hybrid split), ``mail`` (folders and every kind of message),
``rules`` (inbox rules, hidden rules, mailbox forwarding), ``content`` (phishing lures,
attachments, senders), ``common`` (ids, timestamps, name pools).
"""

from m365sandbox.generator.tenant import CLOUDS, generate_tenant

__all__ = ["CLOUDS", "generate_tenant"]
