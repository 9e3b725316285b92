"""The REST API's role permissions: the one curator rule (``accounts.roles.is_curator``) as DRF
permission classes."""
from rest_framework import permissions

from .roles import is_curator


class IsCurator(permissions.BasePermission):
    """Curators (staff in the Curator group) and admins."""

    def has_permission(self, request, view):
        return is_curator(request.user)


class CuratorWritesOthersRead(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or is_curator(request.user)
