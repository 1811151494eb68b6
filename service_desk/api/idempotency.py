"""``Idempotency-Key`` for create requests: a retry returns the first answer and creates nothing.

- The first request with a key inserts an ``IdempotencyRecord`` (committed at once: it is the
  marker other requests see), then runs the create and stores its answer in one transaction with
  it, so either both the created object and the stored answer exist, or neither does.
- A retry with the same key and the same body gets the stored answer: same status, same body, and
  the header ``Idempotent-Replayed: true``.
- The same key with another body (or on another endpoint) is refused: 422 ``idempotency_key_reused``.
- The same key while the first request is still running: 409 ``idempotency_request_in_progress``
  (retry later). A marker whose request died without an answer is taken over after
  ``STALE_AFTER`` seconds.
- Answers of 5xx are not stored: the key is released, so the retry runs again.

Keys are per user (two integrators may use the same key). Records can be purged after a day
(``IdempotencyRecord.created_at`` is indexed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from service_desk.api.errors import ApiError
from service_desk.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
STALE_AFTER = timedelta(minutes=2)


def _canonical(value: object) -> object:
    if isinstance(value, QueryDict):
        return {key: [_canonical(v) for v in value.getlist(key)] for key in sorted(value.keys())}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "sha256": digest.hexdigest()}
    return value


def request_fingerprint(request) -> str:  # noqa: ANN001
    """SHA-256 of the request's parsed body (key order and multipart boundaries do not matter)."""
    data = request.data
    if isinstance(data, QueryDict) or hasattr(data, "getlist"):
        merged = QueryDict(mutable=True)
        for key in data:
            merged.setlist(key, data.getlist(key))
        data = merged
    canonical = json.dumps(_canonical(data), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _jsonable(data: object) -> object:
    """The body as the client received it (dates, decimals and lazy strings rendered as JSON)."""
    return json.loads(JSONRenderer().render(data)) if data is not None else None


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body, status=record.status_code)
    response[REPLAYED_HEADER] = "true"
    body = record.response_body
    if record.status_code == 201 and isinstance(body, dict) and isinstance(body.get("url"), str):
        response["Location"] = body["url"]
    return response


def run_idempotently(request, create: Callable[[], Response]) -> Response:  # noqa: ANN001
    key = request.headers.get(HEADER)
    if key is None:
        return create()
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            "invalid",
            _("The Idempotency-Key header is 1 to 255 printable characters."),
            fields={HEADER: [_("1 to 255 printable characters.")]},
        )
    fingerprint = request_fingerprint(request)  # parses the body: a malformed one is a 400 first
    path = request.path[:255]
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                user=request.user, key=key, method=request.method, path=path, request_hash=fingerprint
            )
    except IntegrityError:
        record = _existing(request, key, fingerprint, path)
        if isinstance(record, Response):
            return record

    try:
        with transaction.atomic():
            response = create()
            if response.status_code >= 500:
                raise _DoNotStore(response)
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                status_code=response.status_code, response_body=_jsonable(response.data)
            )
    except _DoNotStore as failed:
        IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()
        return failed.response
    except BaseException:
        IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()
        raise
    return response


class _DoNotStore(Exception):  # noqa: N818 - control flow, rolls the create back
    def __init__(self, response: Response) -> None:
        self.response = response


def _existing(request, key: str, fingerprint: str, path: str) -> IdempotencyRecord | Response:  # noqa: ANN001
    record = IdempotencyRecord.objects.filter(user=request.user, key=key).first()
    if record is None:  # released meanwhile (the first request failed): let the caller retry
        raise ApiError(
            "idempotency_request_in_progress",
            _("A request with this Idempotency-Key is being processed; retry shortly."),
            status=409,
            headers={"Retry-After": "1"},
        )
    if record.request_hash != fingerprint or record.method != request.method or record.path != path:
        raise ApiError(
            "idempotency_key_reused",
            _("This Idempotency-Key was used with a different request; use a new key for a new request."),
            fields={HEADER: [_("Already used for another request.")]},
            status=422,
        )
    if record.status_code is not None:
        return _replay(record)
    if record.created_at < timezone.now() - STALE_AFTER:
        # The first request died without an answer (its create rolled back with it): take over.
        taken = IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True, created_at=record.created_at)
        if taken.update(created_at=timezone.now()):
            record.refresh_from_db()
            return record
    raise ApiError(
        "idempotency_request_in_progress",
        _("A request with this Idempotency-Key is being processed; retry shortly."),
        status=409,
        headers={"Retry-After": "1"},
    )


class IdempotentCreateMixin:
    """Makes ``create()`` honour ``Idempotency-Key``; ``self.idempotent(request, fn)`` for custom POST actions."""

    def idempotent(self, request, create: Callable[[], Response]) -> Response:  # noqa: ANN001
        return run_idempotently(request, create)

    def create(self, request, *args, **kwargs) -> Response:  # noqa: ANN001, ANN002, ANN003
        return run_idempotently(request, lambda: super(IdempotentCreateMixin, self).create(request, *args, **kwargs))
