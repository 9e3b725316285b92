"""Users and groups are django.contrib.auth's; roles are in ``roles.py``.

This module exists so that Django sends this app its post_migrate signal (sent only to apps
with a models module), which keeps the Curator group's permissions up to date."""
