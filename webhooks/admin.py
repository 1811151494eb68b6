"""Admin: subscriptions (the secret is shown once, at creation or rotation) and the delivery log."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.selectors import principal_for
from webhooks import services, targets
from webhooks.domain.events import ALL_EVENTS, normalise_event_list
from webhooks.domain.signing import new_secret
from webhooks.models import WebhookDelivery, WebhookSubscription


class SubscriptionForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        label=_("events"), choices=[(e, e) for e in ALL_EVENTS], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "events", "include_internal_notes", "is_active"]

    def clean_url(self) -> str:
        url = (self.cleaned_data.get("url") or "").strip()
        targets.validate_webhook_url(url)
        return url

    def clean_events(self) -> list[str]:
        try:
            return normalise_event_list(self.cleaned_data.get("events") or [])
        except ValueError as exc:
            raise ValidationError(_("Unknown event types: %(types)s"), params={"types": str(exc)}) from exc


def _show_secret(model_admin: admin.ModelAdmin, request: HttpRequest, subscription: WebhookSubscription) -> None:
    model_admin.message_user(
        request,
        format_html(
            "{}: {} <code>{}</code>. {}",
            subscription.name,
            _("signing secret"),
            subscription.secret,
            _("Copy it now: it is not shown again."),
        ),
        messages.WARNING,
    )


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = (
        "name",
        "url",
        "owner",
        "event_list",
        "is_active",
        "consecutive_failures",
        "last_success_at",
        "last_failure_at",
    )
    list_filter = ("is_active",)
    search_fields = ("name", "url", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = (
        "owner",
        "secret_hint",
        "created_at",
        "updated_at",
        "last_success_at",
        "last_failure_at",
        "last_error",
        "consecutive_failures",
        "delivered_count",
        "failed_count",
    )
    actions = ["rotate_secret"]

    @admin.display(description=_("events"))
    def event_list(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.events or [])

    @admin.display(description=_("signing secret"))
    def secret_hint(self, obj: WebhookSubscription) -> str:
        return obj.masked_secret if obj.pk else _("Created and shown once when you save.")

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form: forms.Form, change: bool) -> None:
        if not change:
            obj.owner = request.user
            obj.secret = new_secret()
        super().save_model(request, obj, form, change)
        if not change:
            _show_secret(self, request, obj)
            if not principal_for(request.user).is_agent:
                self.message_user(
                    request,
                    _("You are not an active agent: this subscription receives no events until an agent owns it."),
                    messages.WARNING,
                )

    @admin.action(description=_("Create a new signing secret (shown once)"))
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:
            subscription = services.subscription_rotate_secret(subscription=subscription, by=request.user)
            _show_secret(self, request, subscription)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: what was sent where, the answer, and a redelivery action."""

    list_display = (
        "created_at",
        "event_type",
        "ticket_reference",
        "subscription",
        "status",
        "attempts",
        "response_status",
        "next_attempt_at",
        "event_id",
    )
    list_filter = ("status", "event_type", "subscription")
    search_fields = ("=event_id", "ticket_reference", "subscription__name")
    list_select_related = ("subscription",)
    show_full_result_count = False
    date_hierarchy = None
    exclude = ("payload",)
    readonly_fields = [
        "subscription",
        "event_id",
        "event_type",
        "ticket_reference",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "delivered_at",
        "response_status",
        "response_body",
        "error",
        "duration_ms",
        "source_event",
        "redelivery_of",
        "queued_at",
        "created_at",
        "payload_pretty",
    ]
    actions = ["redeliver"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        # Views are read-only; the change permission only gates the redeliver action.
        return super().has_change_permission(request, obj) if obj is None else False

    @admin.display(description=_("request body"))
    def payload_pretty(self, obj: WebhookDelivery) -> str:
        try:
            text = json.dumps(json.loads(obj.payload), indent=2, ensure_ascii=False)
        except ValueError:
            text = obj.payload
        return format_html("<pre>{}</pre>", text)

    @admin.action(description=_("Redeliver (same event id)"), permissions=["change"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        done = 0
        for delivery in queryset.select_related("subscription"):
            try:
                services.delivery_redeliver(delivery=delivery)
            except ValidationError as exc:
                self.message_user(request, f"{delivery}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                ngettext("%(count)d delivery queued again.", "%(count)d deliveries queued again.", done)
                % {"count": done},
                messages.SUCCESS,
            )
