"""The public web form and the raw-mail HTTP endpoint. Thin: validate, store, answer.

A web submission becomes a MIME message (so one pipeline processes mail and forms alike) and is
stored before anything else happens; the worker turns it into a ticket and acknowledges it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

from django import forms
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.domain.emails import InvalidEmail, normalize_email
from channels_intake.models import InboundMessage, Mailbox, Source
from channels_intake.outbound import message_id_domain
from channels_intake.services import inbound_store

MAX_FILES = 5
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 25 * 1024 * 1024


def check_attachments(files: Sequence[UploadedFile]) -> list[UploadedFile]:
    """The limits of files sent through a form (web form, portal): count, each file, all together."""
    files = list(files or [])
    if len(files) > MAX_FILES:
        raise forms.ValidationError(_("Attach at most %(n)s files.") % {"n": MAX_FILES})
    for upload in files:
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(
                _("%(name)s is larger than %(mb)s MB.") % {"name": upload.name, "mb": MAX_FILE_BYTES // 2**20}
            )
    if sum(f.size for f in files) > MAX_TOTAL_BYTES:
        raise forms.ValidationError(_("Attachments may add up to %(mb)s MB.") % {"mb": MAX_TOTAL_BYTES // 2**20})
    return files


def _one_line(value: str) -> str:
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: object, initial: object = None) -> list:
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class WebTicketForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=100)
    email = forms.EmailField(label=_("Your email address"), max_length=254)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    description = forms.CharField(
        label=_("How can we help?"), widget=forms.Textarea(attrs={"rows": 8}), max_length=20000
    )
    attachments = MultipleFileField(label=_("Attachments"), required=False)
    # Left empty by people; bots fill it in. Hidden with CSS and from assistive technology.
    website = forms.CharField(required=False, label=_("Leave this field empty"))
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_name(self) -> str:
        return _one_line(self.cleaned_data["name"])

    def clean_subject(self) -> str:
        value = _one_line(self.cleaned_data["subject"])
        if not value:
            raise forms.ValidationError(_("Please give a subject."))
        return value

    def clean_email(self) -> str:
        try:
            return normalize_email(self.cleaned_data["email"])
        except InvalidEmail as exc:
            raise forms.ValidationError(_("Please enter a valid email address.")) from exc

    def clean_nonce(self) -> str:
        value = self.cleaned_data["nonce"]
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", value):
            raise forms.ValidationError(_("The form expired; please reload the page."))
        return value

    def clean_attachments(self) -> list:
        return check_attachments(self.cleaned_data.get("attachments") or [])

    def clean(self) -> dict:
        data = super().clean()
        if data.get("website"):
            raise forms.ValidationError(_("This submission looks automated and was not accepted."))
        return data


def _over_limit(kind: str, key: str, per_hour: int) -> bool:
    cache_key = f"webform:{kind}:{key}"
    cache.add(cache_key, 0, timeout=3600)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=3600)
        count = 1
    return count > per_hour


def client_ip(request: HttpRequest) -> str:
    """The visitor's address. Behind ``TRUSTED_PROXY_COUNT`` reverse proxies it is taken from
    X-Forwarded-For, counted from the right (the part the proxies wrote), never from the left."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def web_submission_to_mime(data: dict, *, ip: str) -> bytes:
    message = EmailMessage()
    message["From"] = formataddr((data["name"], data["email"]))
    message["To"] = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or "support@localhost"
    message["Subject"] = data["subject"]
    message["Date"] = formatdate(localtime=False)
    # The nonce makes a double submission of the same form one message, not two.
    message["Message-ID"] = f"<web-{data['nonce']}@{message_id_domain()}>"
    message["X-Service-Desk-Source"] = "web"
    message["X-Service-Desk-Client-IP"] = ip
    message.set_content(data["description"])
    for upload in data.get("attachments") or []:
        content = upload.read()
        message.add_attachment(content, maintype="application", subtype="octet-stream", filename=upload.name)
    return message.as_bytes()


@require_http_methods(["GET", "POST"])
def web_ticket_form(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = WebTicketForm(request.POST, request.FILES)
        if form.is_valid():
            ip = client_ip(request)
            email = form.cleaned_data["email"]
            if _over_limit("ip", ip, settings.WEB_FORM_PER_IP_PER_HOUR) or _over_limit(
                "email", email, settings.WEB_FORM_PER_ADDRESS_PER_HOUR
            ):
                form.add_error(None, _("Too many requests from you in the last hour. Please try again later."))
                return render(request, "channels_intake/web_form.html", {"form": form}, status=429)
            inbound_store(raw=web_submission_to_mime(form.cleaned_data, ip=ip), source=Source.WEB)
            return render(request, "channels_intake/web_form_done.html", {"email": email}, status=201)
        return render(request, "channels_intake/web_form.html", {"form": form}, status=400)
    form = WebTicketForm(initial={"nonce": secrets.token_urlsafe(24)})
    return render(request, "channels_intake/web_form.html", {"form": form})


@csrf_exempt
@require_POST
def raw_mail_endpoint(request: HttpRequest, mailbox_id: int) -> JsonResponse:
    """Accept one raw RFC 822 message from a mail server pipe or forwarding service.

    Authenticated with the mailbox's ingest secret (``Authorization: Bearer <secret>``). Answers
    202 once the bytes are committed; processing happens in the worker.
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    mailbox = Mailbox.objects.filter(pk=mailbox_id, enabled=True).first()
    if mailbox is None or scheme.lower() != "bearer" or not mailbox.check_ingest_token(token.strip()):
        return JsonResponse({"error": "unauthorized", "message": "Unknown mailbox or wrong ingest secret."}, status=401)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.INTAKE_MAX_RAW_BYTES
    if length > limit:
        return JsonResponse({"error": "too_large", "message": f"A message may be at most {limit} bytes."}, status=413)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        return JsonResponse({"error": "too_large", "message": f"A message may be at most {limit} bytes."}, status=413)
    if not raw.strip():
        return JsonResponse({"error": "empty", "message": "The request body holds no message."}, status=400)
    row: InboundMessage = inbound_store(raw=raw, source=Source.HTTP, mailbox=mailbox)
    return JsonResponse({"id": row.pk, "duplicate": not row.is_original, "outcome": row.outcome}, status=202)
