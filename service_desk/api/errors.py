"""One error format for the whole API: ``{"error": {"code", "message", "fields"}}``.

``exception_handler`` is DRF's ``EXCEPTION_HANDLER``: DRF exceptions, Django's 404 and permission
errors, the service layer's ``TicketError`` and oversized bodies all come out in this shape, and an
unexpected exception is logged and answered with a 500 in the same shape (never an HTML page).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from accounts.services import AccountError
from tickets.services import PermissionDenied as TicketPermissionDenied
from tickets.services import TicketError

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error with a stable ``code`` and optional per-field messages."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_detail = gettext_lazy("The request is invalid.")

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: Mapping[str, list[str] | str] | None = None,
        status: int | None = None,  # noqa: A002 - mirrors the HTTP word
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.code = code
        self.message = message
        self.fields = {k: [str(v)] if isinstance(v, str) else [str(m) for m in v] for k, v in (fields or {}).items()}
        if status is not None:
            self.status_code = status
        self.headers = dict(headers or {})


def error_body(code: str, message: str, fields: Mapping[str, list[str]] | None = None) -> dict:
    return {"error": {"code": code, "message": str(message), "fields": dict(fields or {})}}


def _flatten(detail: object, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested ``detail`` (dicts of lists of dicts) as dotted field names -> messages."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in detail):
            out.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                if isinstance(item, Mapping | list | tuple):
                    if item:
                        out.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
                else:
                    out.setdefault(prefix or "non_field_errors", []).append(str(item))
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return out


_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ParseError: "parse_error",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def _response(code: str, message: str, fields: Mapping[str, list[str]] | None, status_code: int, headers=None):
    return Response(error_body(code, message, fields), status=status_code, headers=headers)


def exception_handler(exc: Exception, context: dict) -> Response | None:  # noqa: C901, PLR0911
    headers: dict[str, str] = {}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, TicketPermissionDenied):
        set_rollback()
        if exc.errors:
            return _response("not_allowed", str(exc), {k: [str(v)] for k, v in exc.errors.items()}, 400)
        return _response("permission_denied", str(exc), {}, 403)
    if isinstance(exc, TicketError):
        set_rollback()
        fields = {k: [str(v)] for k, v in exc.errors.items()} or {"non_field_errors": [str(exc)]}
        return _response("invalid", str(exc), fields, 400)
    if isinstance(exc, AccountError):
        set_rollback()
        fields = {k: [str(v)] for k, v in exc.errors.items()} or {"non_field_errors": [str(exc)]}
        return _response("invalid", str(exc), fields, 400)
    if isinstance(exc, RequestDataTooBig):
        return _response("too_large", _("The request body is too large."), {}, 413)
    if isinstance(exc, SuspiciousOperation):
        return _response("invalid", _("The request is invalid."), {}, 400)

    if isinstance(exc, ApiError):
        set_rollback()
        return _response(exc.code, exc.message, exc.fields, exc.status_code, {**exc.headers} or None)

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        if isinstance(exc, exceptions.ValidationError):
            fields = _flatten(exc.detail)
            return _response("invalid", _("The request is invalid."), fields, exc.status_code, headers or None)
        code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), None)
        if code is None:
            codes = exc.get_codes()
            code = codes if isinstance(codes, str) else "error"
        detail = exc.detail
        message = str(detail) if not isinstance(detail, list | dict) else _("The request could not be processed.")
        return _response(code, message, {}, exc.status_code, headers or None)

    # Anything else is a bug: log it, roll back, and answer in the API's format (never HTML).
    request = context.get("request")
    logger.exception("Unhandled API error on %s", getattr(request, "path", "?"), exc_info=exc)
    set_rollback()
    return _response("server_error", _("Something went wrong on our side."), {}, 500)


@csrf_exempt
def not_found_view(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """Paths under /api/ that match no route: a 404 in the API's format, not Django's HTML page."""
    return JsonResponse(error_body("not_found", _("Not found.")), status=404)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable machine-readable code, e.g. invalid, not_found, throttled.")
    message = serializers.CharField(help_text="A human-readable explanation (in the caller's language).")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per input field (dotted for nested input); empty when no field is at fault.",
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer of the API."""

    error = ErrorDetailSerializer()
