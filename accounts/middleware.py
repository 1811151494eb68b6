"""Render each request in the signed-in person's language and time zone."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from accounts.selectors import principal_for

_LANGUAGES = {code for code, _name in settings.LANGUAGES}


class PreferencesMiddleware:
    """After authentication: activate the person's language and time zone for this request.

    Anonymous visitors keep what ``LocaleMiddleware`` chose from their browser. The principal is
    cached on the user, so views that check permissions pay no extra query.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        principal = principal_for(getattr(request, "user", None))
        if principal.language in _LANGUAGES:
            translation.activate(principal.language)
            request.LANGUAGE_CODE = principal.language  # type: ignore[attr-defined]
        if principal.time_zone:
            try:
                timezone.activate(zoneinfo.ZoneInfo(principal.time_zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        if principal.language in _LANGUAGES:
            response.headers.setdefault("Content-Language", principal.language)
        return response
