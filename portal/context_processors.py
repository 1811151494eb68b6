"""What the portal's frame needs on every page: who is signed in, as the portal sees them."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.selectors import principal_for


def portal(request: HttpRequest) -> dict[str, object]:
    """``portal_principal``: the signed-in person's principal, computed only if a template asks
    (it is cached on the user, so the pages that checked access already pay nothing more)."""
    return {"portal_principal": SimpleLazyObject(lambda: principal_for(getattr(request, "user", None)))}
