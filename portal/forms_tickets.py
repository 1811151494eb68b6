"""Forms of the portal's ticket pages. They parse what the customer sent; the services decide.

Attachments follow the limits of the public web form (``channels_intake.web``): at most 5 files,
10 MB each, 25 MB in all. File names are made safe and content types sniffed by the service
(``tickets.domain.files``). Custom fields are the ones that apply to the customer and the chosen
type (``accounts.selectors.ticket_custom_fields_for``), rendered by ``tickets.forms.CustomFieldsForm``
and validated by ``accounts.domain.custom_fields``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.domain import custom_fields as cf
from accounts.models import Contact, CustomFieldDefinition
from channels_intake.web import MAX_FILE_BYTES, MAX_FILES, check_attachments
from tickets.domain.portal import StatusFilter
from tickets.forms import CustomFieldsForm, MultipleFileField
from tickets.models import TicketType
from tickets.services import TicketError

_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def _one_line(value: str) -> str:
    return " ".join((value or "").replace("\r", " ").replace("\n", " ").split())


def _attachments_field() -> MultipleFileField:
    return MultipleFileField(
        label=_("Attachments"),
        required=False,
        # Lazy: rendered in the language of the request, not the one active when the module was imported.
        help_text=lazy(
            lambda: gettext("Up to %(n)s files, %(mb)s MB each.") % {"n": MAX_FILES, "mb": MAX_FILE_BYTES // 2**20},
            str,
        )(),
    )


class TicketNewForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=200)
    description = forms.CharField(
        label=_("How can we help?"), widget=forms.Textarea(attrs={"rows": 8}), max_length=20000
    )
    type = forms.ModelChoiceField(
        label=_("Type of request"),
        queryset=TicketType.objects.none(),
        required=False,
        empty_label=_("Not sure / other"),
    )
    attachments = _attachments_field()
    # One per rendered form: a second submission of the same form opens no second ticket.
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["type"].queryset = TicketType.objects.filter(is_active=True).order_by("name")
        self.fields["subject"].widget.attrs.update({"autocomplete": "off", "data-kb-suggest": ""})
        self.fields["type"].widget.attrs.update({"data-portal-type": ""})

    def clean_subject(self) -> str:
        value = _one_line(self.cleaned_data["subject"])
        if not value:
            raise forms.ValidationError(_("Please give a subject."))
        return value

    def clean_description(self) -> str:
        value = self.cleaned_data["description"]
        if not value.strip():
            raise forms.ValidationError(_("Please describe your request."))
        return value

    def clean_nonce(self) -> str:
        return _clean_nonce(self.cleaned_data["nonce"])

    def clean_attachments(self) -> list[UploadedFile]:
        return check_attachments(self.cleaned_data.get("attachments") or [])


def custom_fields_form(
    definitions: Sequence[CustomFieldDefinition], data: object = None, initial: dict | None = None
) -> CustomFieldsForm:
    """The applicable custom fields as a sub-form (field names ``cf-<key>``), with the admin's help texts."""
    form = CustomFieldsForm(data, specs=[d.to_spec() for d in definitions], initial=initial)
    for definition in definitions:
        field = form.fields[definition.key]
        field.help_text = definition.help_text
        if definition.required:
            field.widget.attrs["aria-required"] = "true"
    return form


def custom_field_values(form: CustomFieldsForm) -> dict[str, object]:
    """The typed values to store; a ``forms.ValidationError`` per field goes on ``form``.

    Empty optional fields are left out, so a new ticket stores only what the customer filled in.
    """
    try:
        return cf.validate_values(form.specs, form.values())  # type: ignore[return-value]
    except cf.CustomFieldError as exc:
        for key, message in exc.errors.items():
            form.add_error(key if key in form.fields else None, message)
        return {}


def add_service_error(error: TicketError, form: forms.Form, *others: forms.Form) -> None:
    """A refused service call on the field it names (in ``form`` or a sub-form), else above ``form``."""
    aliases = {"body_text": "description", "type": "type"}
    placed = False
    for key, message in (error.errors or {}).items():
        name = key.removeprefix("custom_fields.")
        for target in (form, *others):
            candidate = aliases.get(name, name) if target is form else name
            if candidate in target.fields:
                target.add_error(candidate, message)
                placed = True
                break
    if not placed:
        form.add_error(None, str(error))


def _clean_nonce(value: str) -> str:
    if not _NONCE.fullmatch(value or ""):
        raise forms.ValidationError(_("The form expired; please reload the page."))
    return value


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Your reply"), required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 6})
    )
    attachments = _attachments_field()
    # One per rendered form: sending the same reply form twice adds the reply once.
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_nonce(self) -> str:
        return _clean_nonce(self.cleaned_data["nonce"])

    def clean_attachments(self) -> list[UploadedFile]:
        return check_attachments(self.cleaned_data.get("attachments") or [])

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors and not (data.get("body") or "").strip() and not data.get("attachments"):
            raise forms.ValidationError(_("Write a message or attach a file."), code="empty")
        return data


_STATUS_CHOICES = [
    ("", _("All")),
    (StatusFilter.OPEN.value, _("Open")),
    (StatusFilter.SOLVED.value, _("Solved")),
    (StatusFilter.CLOSED.value, _("Closed")),
]


class TicketFilterForm(forms.Form):
    """The list filters: status group (and, for the organization's list, the requester)."""

    status = forms.ChoiceField(label=_("Status"), choices=_STATUS_CHOICES, required=False)


# At most this many people are offered in the organization list's requester filter (a big organization
# has thousands of contacts; the page stays small). Any contact of the organization can still be chosen
# by a link (``?requester=<id>``).
REQUESTER_CHOICES = 200


class OrganizationTicketFilterForm(TicketFilterForm):
    requester = forms.ModelChoiceField(
        label=_("Requester"), queryset=Contact.objects.none(), required=False, empty_label=_("Everyone")
    )

    def __init__(self, *args: object, contacts: object = None, offered: object = None, **kwargs: object) -> None:
        """``contacts``: who may be chosen (the organization's contacts); ``offered``: who is listed (the
        people who asked something, in order), of whom at most ``REQUESTER_CHOICES`` are shown."""
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["requester"]
        field.queryset = contacts
        if offered is not None:
            people = list(offered[:REQUESTER_CHOICES])  # type: ignore[index]
            self._offered_ids = {person.pk for person in people}
            field.widget.choices = [("", field.empty_label)] + [
                (person.pk, field.label_from_instance(person)) for person in people
            ]

    def clean_requester(self) -> Contact | None:
        chosen = self.cleaned_data.get("requester")
        offered = getattr(self, "_offered_ids", None)
        if chosen is not None and offered is not None and chosen.pk not in offered:
            # Chosen by a link although not listed: keep it selectable on the page that shows it.
            field = self.fields["requester"]
            field.widget.choices = [*field.widget.choices, (chosen.pk, field.label_from_instance(chosen))]
        return chosen
