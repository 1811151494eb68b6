from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from channels_intake.models import AcknowledgementLog, InboundMessage, Mailbox, Outcome


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "email_address",
        "protocol",
        "host",
        "enabled",
        "default_team",
        "last_polled_at",
        "has_error",
    )
    list_filter = ("enabled", "protocol", "security")
    search_fields = ("name", "email_address", "host")
    list_select_related = ("default_team",)
    readonly_fields = ("last_polled_at", "last_error", "ingest_token_hash")
    actions = ["rotate_ingest_token"]

    def get_form(self, request: HttpRequest, obj: Mailbox | None = None, change: bool = False, **kwargs: object):  # noqa: ANN201
        form = super().get_form(request, obj, change=change, **kwargs)
        if "secret" in form.base_fields:
            from django import forms

            form.base_fields["secret"].widget = forms.PasswordInput(render_value=True)
        return form

    @admin.display(boolean=True, description="error")
    def has_error(self, obj: Mailbox) -> bool:
        return bool(obj.last_error)

    @admin.action(description="Create a new HTTP ingest secret (shown once)")
    def rotate_ingest_token(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        for mailbox in queryset:
            token = mailbox.rotate_ingest_token()
            mailbox.save(update_fields=["ingest_token_hash"])
            self.message_user(
                request,
                f"{mailbox.name}: POST raw mail to /intake/mailboxes/{mailbox.pk}/raw/ with "
                f"'Authorization: Bearer {token}'. This secret is not shown again.",
                messages.WARNING,
            )


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    """Everything received, with quarantined messages one filter away and a retry action."""

    list_display = (
        "id",
        "received_at",
        "source",
        "mailbox",
        "from_address",
        "subject",
        "outcome",
        "ticket_link",
        "attempts",
    )
    list_filter = ("outcome", "source", "mailbox", "is_original")
    search_fields = ("from_address", "subject", "dedupe_key", "reason")
    list_select_related = ("mailbox", "ticket")
    show_full_result_count = False
    raw_id_fields = ("ticket", "message", "duplicate_of")
    exclude = ("raw",)
    readonly_fields = [
        f.name for f in InboundMessage._meta.get_fields() if getattr(f, "concrete", False) and f.name != "raw"
    ] + ["raw_preview"]
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: InboundMessage | None = None) -> bool:
        return False  # nothing received is ever deleted

    def get_queryset(self, request: HttpRequest) -> QuerySet[InboundMessage]:
        return super().get_queryset(request).defer("raw")

    @admin.display(description="ticket")
    def ticket_link(self, obj: InboundMessage) -> str:
        return obj.ticket.reference if obj.ticket_id else ""

    @admin.display(description="raw message (first 20 kB)")
    def raw_preview(self, obj: InboundMessage) -> str:
        text = bytes(obj.raw[:20000]).decode("utf-8", errors="replace")
        return format_html("<pre style='white-space:pre-wrap;max-height:30em;overflow:auto'>{}</pre>", text)

    @admin.action(description="Retry processing of the selected quarantined messages")
    def retry(self, request: HttpRequest, queryset: QuerySet[InboundMessage]) -> HttpResponse | None:
        from channels_intake.services import inbound_retry

        results = [inbound_retry(row) for row in queryset.filter(outcome=Outcome.QUARANTINED)]
        still = sum(1 for r in results if r.outcome == Outcome.QUARANTINED)
        self.message_user(
            request, f"Retried {len(results)}: {len(results) - still} processed, {still} still quarantined."
        )
        return None


@admin.register(AcknowledgementLog)
class AcknowledgementLogAdmin(admin.ModelAdmin):
    list_display = ("email", "ticket", "sent_at")
    search_fields = ("email",)
    raw_id_fields = ("ticket",)
    list_select_related = ("ticket",)
