"""A media storage like object storage for tests: Django's InMemoryStorage (no disk behind it)
without a public ``path()``, as django-storages' S3Storage has none."""
import os

from django.core.files.storage import InMemoryStorage
from django.utils._os import safe_join


class ObjectLikeStorage(InMemoryStorage):
    def path(self, name):
        raise NotImplementedError("this storage has no local file paths")

    def _relative_path(self, name):  # InMemoryStorage resolves names through path(): keep that inside
        return os.path.relpath(safe_join(self.location, name), self.location)
