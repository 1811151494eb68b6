"""OpenAPI details drf-spectacular cannot guess: the Token scheme, the error answers of every
operation, and the ``Idempotency-Key`` header of create operations."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

from service_desk.api.errors import ErrorSerializer
from service_desk.api.idempotency import HEADER


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "service_desk.api.authentication.ApiTokenAuthentication"
    name = "Token"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A personal API token, sent as `Authorization: Token <token>`.",
        }


_DESCRIPTIONS = {
    "400": "Invalid input: `fields` names what is wrong.",
    "401": "Missing, invalid, expired or revoked credentials.",
    "403": "The caller may not use this endpoint.",
    "404": "Not found, or outside what the caller may see.",
    "405": "Method not allowed.",
    "409": "A request with this Idempotency-Key is still running.",
    "413": "The request body is too large.",
    "415": "Unsupported media type.",
    "422": "The Idempotency-Key was used with another request.",
    "429": "Too many requests: retry after `Retry-After` seconds.",
}


class ApiAutoSchema(AutoSchema):
    def _is_creating(self) -> bool:
        return self.method == "POST"

    def get_override_parameters(self) -> list:
        params = list(super().get_override_parameters())
        if self._is_creating():
            params.append(
                OpenApiParameter(
                    HEADER,
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Any unique string (e.g. a UUID). A retry with the same key and body returns the "
                    "first answer and creates nothing new.",
                )
            )
        return params

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        codes = ["401", "403", "405", "429"]
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view():
            codes.append("400")
        if self.method != "GET" or self.path.endswith("}/") or "{" in self.path:
            codes.append("404")
        if self._is_creating():
            codes += ["409", "413", "415", "422"]
        elif self.method in ("PUT", "PATCH"):
            codes += ["413", "415"]
        for code in sorted(codes):
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = _DESCRIPTIONS[code]
                responses[code] = response
        return responses

    def _get_response_headers_for_code(self, status_code, direction="response") -> dict:  # noqa: ANN001
        headers = super()._get_response_headers_for_code(status_code, direction)
        if str(status_code) == "429":
            headers["Retry-After"] = {"schema": {"type": "integer"}, "description": "Seconds to wait."}
        return headers
