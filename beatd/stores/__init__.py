"""Entry stores: where entries come from besides the YAML file (a SQL table, django-celery-beat's tables), read incrementally.

Which store a `stores:` kind opens is beatd.catalog's business: the `django` store lives
with its models in beatd.contrib.django, above this package.
"""

from __future__ import annotations

from beatd.stores.base import EntryChanges, EntryStore

__all__ = ["EntryChanges", "EntryStore"]
