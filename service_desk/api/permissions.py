"""Who may use an endpoint at all. Objects are scoped by selectors (outside the scope: 404)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from accounts.selectors import principal_for


class IsAgent(BasePermission):
    """Agents (and superusers) only; customers and anonymous callers are refused."""

    message = "This endpoint is for agents only."

    def has_permission(self, request, view) -> bool:  # noqa: ANN001
        return principal_for(request.user).is_agent


class IsAdmin(BasePermission):
    message = "This endpoint is for administrators only."

    def has_permission(self, request, view) -> bool:  # noqa: ANN001
        return principal_for(request.user).is_admin
