"""What every workspace view shares: agent-only access and small request helpers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse

from accounts.domain.permissions import Principal
from accounts.selectors import principal_for

View = Callable[..., HttpResponse]


def agent_required(view: View) -> View:
    """Signed-in agents only. Anonymous visitors go to the login page; anybody else gets a 404.

    A customer who guesses a workspace URL learns nothing about what exists behind it.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not principal_for(request.user).is_agent:
            raise Http404("Not found.")
        return view(request, *args, **kwargs)

    return wrapper


def principal(request: HttpRequest) -> Principal:
    return principal_for(request.user)


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"
