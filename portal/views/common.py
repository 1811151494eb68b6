"""What every portal view shares: customer-only access and the signed-in customer's principal."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse

from accounts.domain.permissions import Kind, Principal
from accounts.selectors import principal_for

View = Callable[..., HttpResponse]


def customer_required(view: View) -> View:
    """Signed-in customers (B2C customers and B2B contacts) only.

    Anonymous visitors go to the portal's login page. Anybody else signed in (an agent, a user
    without a contact) gets a 404: the portal's ticket pages are about the customer's own tickets.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=reverse("portal:login"))
        if principal_for(request.user).kind is not Kind.CUSTOMER:
            raise Http404("Not found.")
        return view(request, *args, **kwargs)

    return wrapper


def principal(request: HttpRequest) -> Principal:
    return principal_for(request.user)
