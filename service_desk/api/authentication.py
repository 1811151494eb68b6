"""How API callers prove who they are: personal tokens (``Authorization: Token <token>``) or the
browser session (with CSRF, DRF's ``SessionAuthentication``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from accounts import selectors, services


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <token>``; ``request.auth`` is the ``ApiToken`` row."""

    keyword = "Token"

    def authenticate(self, request):  # noqa: ANN001, ANN201 - DRF's signature
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header: send 'Token <token>'."))
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from exc
        token = selectors.api_token_by_key(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        services.api_token_touch(token=token)
        return token.user, token

    def authenticate_header(self, request) -> str:  # noqa: ANN001
        return self.keyword
