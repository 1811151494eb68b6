"""Input serializers that refuse what they do not know.

A key the caller may not set (unknown, read-only, or reserved for another role) is a 400 naming the
field, never silently dropped. ``not_allowed_fields`` (in the serializer context) names keys that
exist but that this caller may not set, with a clearer message.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

# Form-encoded requests from a browser session carry the CSRF token as a field.
IGNORED_KEYS = frozenset({"csrfmiddlewaretoken"})


class StrictMixin:
    default_error_messages = {
        "unknown_field": _("Unknown field."),
        "read_only_field": _("This field cannot be set."),
        "not_allowed_field": _("You may not set this field."),
    }

    def to_internal_value(self, data):  # noqa: ANN001, ANN201
        if hasattr(data, "keys"):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            readable = set(self.fields)
            refused = set(self.context.get("not_allowed_fields", ()))
            errors = {}
            for key in data.keys():  # noqa: SIM118 - QueryDict and dict alike
                if key in IGNORED_KEYS:
                    continue
                if key in refused:
                    errors[key] = [self.error_messages["not_allowed_field"]]
                elif key not in writable:
                    errors[key] = [self.error_messages["read_only_field" if key in readable else "unknown_field"]]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictSerializer(StrictMixin, serializers.Serializer):
    pass


class StrictModelSerializer(StrictMixin, serializers.ModelSerializer):
    pass
