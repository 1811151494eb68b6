"""Base classes of every API view: the project's defaults come from ``REST_FRAMEWORK`` in the settings
(token + session authentication, IsAuthenticated, per-token and per-IP throttles, keyset pagination,
the JSON error format); these add idempotent creates and an id lookup that never reaches the
database with a number it cannot hold.
"""

from __future__ import annotations

from rest_framework import mixins, viewsets
from rest_framework.exceptions import NotFound

from service_desk.api.idempotency import IdempotentCreateMixin, run_idempotently

MAX_ID = 2**63 - 1


def parse_id(value: object) -> int:
    """A path or body id as an int; anything else (letters, huge numbers) is a plain 404."""
    text = str(value)
    if not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise NotFound()
    return int(text)


class _IdLookupMixin:
    lookup_value_regex = r"[0-9]+"

    def idempotent(self, request, create):  # noqa: ANN001, ANN201
        """Run a POST action that creates something under ``Idempotency-Key`` (see ``idempotency``)."""
        return run_idempotently(request, create)

    def get_object(self):  # noqa: ANN201
        queryset = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]
        lookup = self.kwargs[self.lookup_url_kwarg or self.lookup_field]  # type: ignore[attr-defined]
        try:
            obj = queryset.get(pk=parse_id(lookup))
        except queryset.model.DoesNotExist as exc:
            raise NotFound() from exc
        self.check_object_permissions(self.request, obj)  # type: ignore[attr-defined]
        return obj


class ApiGenericViewSet(_IdLookupMixin, viewsets.GenericViewSet):
    pass


class ApiReadOnlyViewSet(_IdLookupMixin, viewsets.ReadOnlyModelViewSet):
    pass


class ApiViewSet(IdempotentCreateMixin, _IdLookupMixin, viewsets.ModelViewSet):
    pass


class ApiCreateListRetrieveViewSet(
    IdempotentCreateMixin,
    _IdLookupMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    pass
