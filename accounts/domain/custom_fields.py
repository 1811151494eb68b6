"""Admin-defined custom fields: typed definitions and validation of submitted values. Pure, no Django.

Values are stored as JSON, but only ever after passing through :func:`validate_values`, so what is
stored is always of the declared type (dates as ISO strings, decimals as strings).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

JSONValue = str | int | bool | list[str] | None


class FieldType(StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    URL = "url"
    EMAIL = "email"


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    type: FieldType
    required: bool = False
    choices: tuple[str, ...] = ()
    max_length: int = 255
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class CustomFieldError(ValueError):
    """Raised with every field's problem at once: ``errors`` maps key -> message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{key}: {message}" for key, message in self.errors.items()))


_KEY = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")


def validate_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError("A key starts with a letter and holds only lower-case letters, digits and _ (50 at most).")
    return key


def _coerce(spec: FieldSpec, raw: object) -> JSONValue:  # noqa: C901, PLR0911, PLR0912 - one branch per type
    if spec.type in (FieldType.TEXT, FieldType.TEXTAREA):
        if not isinstance(raw, str | int | Decimal) or isinstance(raw, bool):
            raise ValueError("Enter text.")
        text = str(raw).strip()
        limit = spec.max_length if spec.type is FieldType.TEXT else max(spec.max_length, 10_000)
        if len(text) > limit:
            raise ValueError(f"At most {limit} characters.")
        if spec.type is FieldType.TEXT and ("\n" in text or "\r" in text):
            raise ValueError("Line breaks are not allowed here.")
        return text
    if spec.type is FieldType.INTEGER:
        if isinstance(raw, bool):
            raise ValueError("Enter a whole number.")
        try:
            number = int(str(raw).strip())
        except ValueError as exc:
            raise ValueError("Enter a whole number.") from exc
        _check_range(spec, Decimal(number))
        return number
    if spec.type is FieldType.DECIMAL:
        if isinstance(raw, bool | float):
            raw = str(raw) if isinstance(raw, float) else raw
        try:
            decimal = Decimal(str(raw).strip())
        except InvalidOperation as exc:
            raise ValueError("Enter a number.") from exc
        if not decimal.is_finite():
            raise ValueError("Enter a number.")
        _check_range(spec, decimal)
        return str(decimal)
    if spec.type is FieldType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"true", "1", "yes", "on"}:
            return True
        if text in {"false", "0", "no", "off"}:
            return False
        raise ValueError("Enter yes or no.")
    if spec.type is FieldType.DATE:
        if isinstance(raw, dt.datetime):
            raise ValueError("Enter a date, not a date and time.")
        if isinstance(raw, dt.date):
            return raw.isoformat()
        try:
            return dt.date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError as exc:
            raise ValueError("Enter a date as YYYY-MM-DD.") from exc
    if spec.type is FieldType.CHOICE:
        if raw not in spec.choices:
            raise ValueError(f"Choose one of: {', '.join(spec.choices)}.")
        return str(raw)
    if spec.type is FieldType.MULTI_CHOICE:
        if isinstance(raw, str) or not isinstance(raw, Sequence):
            raise ValueError("Choose a list of options.")
        unknown = [item for item in raw if item not in spec.choices]
        if unknown:
            raise ValueError(f"Unknown options: {', '.join(map(str, unknown))}.")
        return [choice for choice in spec.choices if choice in raw]
    if spec.type is FieldType.URL:
        text = str(raw).strip()
        if not _URL.fullmatch(text) or len(text) > 2000:
            raise ValueError("Enter a web address starting with http:// or https://.")
        return text
    if spec.type is FieldType.EMAIL:
        text = str(raw).strip()
        if not _EMAIL.fullmatch(text) or len(text) > 254:
            raise ValueError("Enter an email address.")
        return text
    raise ValueError(f"Unknown field type {spec.type}.")  # pragma: no cover - exhaustive enum


def _check_range(spec: FieldSpec, value: Decimal) -> None:
    if spec.min_value is not None and value < spec.min_value:
        raise ValueError(f"At least {spec.min_value}.")
    if spec.max_value is not None and value > spec.max_value:
        raise ValueError(f"At most {spec.max_value}.")


def _is_empty(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, list | tuple) and not raw)


def validate_values(
    specs: Sequence[FieldSpec],
    values: Mapping[str, object],
    *,
    existing: Mapping[str, JSONValue] | None = None,
    partial: bool = False,
) -> dict[str, JSONValue]:
    """Check ``values`` against ``specs`` and return the complete, typed dict to store.

    A full set (``partial=False``) replaces what was stored and must hold every required field;
    ``partial`` updates merge into ``existing`` and check only the keys being set. Unknown keys
    are rejected, never silently dropped.
    """
    by_key = {spec.key: spec for spec in specs}
    errors: dict[str, str] = {}
    result: dict[str, JSONValue] = dict(existing or {}) if partial else {}
    for key in values:
        if key not in by_key:
            errors[key] = "Unknown field."
    for spec in specs:
        if spec.key not in values:
            if not partial and spec.required:
                errors[spec.key] = "This field is required."
            continue
        raw = values[spec.key]
        if _is_empty(raw):
            if spec.required:
                errors[spec.key] = "This field is required."
            else:
                result.pop(spec.key, None)
            continue
        try:
            result[spec.key] = _coerce(spec, raw)
        except ValueError as exc:
            errors[spec.key] = str(exc)
    if errors:
        raise CustomFieldError(errors)
    return result
