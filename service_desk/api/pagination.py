"""Keyset (cursor) pagination for every list of the API.

Each list has a total order ending in ``id`` (``view.keyset_ordering``, or a ``SortSpec`` from
``view.get_keyset_sort()``), and the next page is "the rows after the last one" read straight from
an index: as fast on page 10,000 as on page 1, and stable while rows are inserted. The cursors are
the workspace's (``tickets.domain.queues``), walked by ``tickets.selectors.tickets_page``.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from service_desk.api.errors import ApiError
from tickets.domain import queues
from tickets.selectors import tickets_page

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def sort_spec(ordering: tuple[str, ...]) -> queues.SortSpec:
    """("-created_at", "-id") -> a SortSpec for the keyset walk."""
    if not ordering or ordering[-1].lstrip("-") != "id":
        raise ValueError("a keyset ordering must end in id")
    columns = tuple(queues.SortKey(f.lstrip("-"), f.startswith("-")) for f in ordering)
    return queues.SortSpec("api:" + ",".join(ordering), columns)


class KeysetPagination(BasePagination):
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def __init__(self) -> None:
        self.next_cursor: str | None = None
        self.request = None

    def _page_size(self, request) -> int:  # noqa: ANN001
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return DEFAULT_PAGE_SIZE
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ApiError(
                "invalid",
                _("The page size is a number from 1 to %(max)d.") % {"max": MAX_PAGE_SIZE},
                fields={self.page_size_query_param: [_("Use a number from 1 to %(max)d.") % {"max": MAX_PAGE_SIZE}]},
            )
        return size

    def paginate_queryset(self, queryset, request, view=None):  # noqa: ANN001, ANN201
        self.request = request
        if hasattr(view, "get_keyset_sort"):
            sort = view.get_keyset_sort()
        else:
            sort = sort_spec(tuple(getattr(view, "keyset_ordering", ("-id",))))
        size = self._page_size(request)
        cursor = request.query_params.get(self.cursor_query_param) or None
        deferred = getattr(view, "keyset_deferred_join", False)
        walk = queryset.select_related(None).prefetch_related(None).only(*sort.fields) if deferred else queryset
        try:
            page = tickets_page(walk, sort, cursor=cursor, size=size)
        except queues.BadCursor as exc:
            raise ApiError(
                "invalid_cursor",
                _("The cursor is invalid; start again without one."),
                fields={self.cursor_query_param: [_("Not a cursor for this list and ordering.")]},
            ) from exc
        self.next_cursor = page.next_cursor
        if not deferred:
            return page.tickets
        # Deferred join: the page's ids were found on the narrow rows alone (no joined tables for rows
        # the sort throws away); now fetch those rows with everything the list shows.
        ids = [row.pk for row in page.tickets]
        rows = {row.pk: row for row in queryset.filter(pk__in=ids)} if ids else {}
        return [rows[pk] for pk in ids if pk in rows]

    def get_next_link(self) -> str | None:
        if self.next_cursor is None or self.request is None:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, self.next_cursor)

    def get_paginated_response(self, data) -> Response:  # noqa: ANN001
        return Response({"results": data, "next_cursor": self.next_cursor, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results", "next_cursor", "next"],
            "properties": {
                "results": schema,
                "next_cursor": {
                    "type": "string",
                    "nullable": True,
                    "description": "Pass as `cursor` for the next page; null on the last page.",
                },
                "next": {"type": "string", "nullable": True, "format": "uri", "description": "The next page's URL."},
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:  # noqa: ANN001
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque cursor from `next_cursor` of the previous page.",
                "schema": {"type": "string", "maxLength": 512},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
            },
        ]
