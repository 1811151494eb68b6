"""Forms of the agent workspace's ticket page. They parse and render input; the services decide.

Each form only turns what was posted into the arguments of one service call. Whatever the
service refuses (:class:`tickets.services.TicketError`) is put back on the form with
:func:`add_service_error`, so the agent sees the reason next to the field at fault.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from accounts.domain import custom_fields as cf
from tickets.choices import LinkKind, MessageKind, Priority, Status
from tickets.models import Tag, TicketType
from tickets.services import MAX_ATTACHMENT_BYTES, NewAttachment, TicketError

MAX_FILES = 10
_LIST_SEPARATORS = re.compile(r"[,;\n]+")

# Service field names that a form calls differently.
_FIELD_ALIASES = {"body_text": "body", "source": "target"}


def add_service_error(form: forms.Form, error: TicketError) -> None:
    """Show a refused service call on ``form``: on the field it names, else above the form."""
    placed = False
    for key, message in (error.errors or {}).items():
        name = key.removeprefix("custom_fields.")
        name = _FIELD_ALIASES.get(name, name)
        if name in form.fields:
            form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(None, str(error))


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self, data: object, initial: object = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            files = [single(d, initial) for d in data if d]
        else:
            files = [single(data, initial)] if data else []
        if len(files) > MAX_FILES:
            raise forms.ValidationError(_("Attach at most %(n)s files at once.") % {"n": MAX_FILES})
        for upload in files:
            if upload.size > MAX_ATTACHMENT_BYTES:
                raise forms.ValidationError(
                    _("%(name)s is larger than %(mb)s MB.")
                    % {"name": upload.name, "mb": MAX_ATTACHMENT_BYTES // (1024 * 1024)}
                )
        return files


def new_attachments(files: Sequence[UploadedFile]) -> list[NewAttachment]:
    return [NewAttachment(filename=f.name or "attachment", content=f.read()) for f in files]


def split_list(value: str) -> list[str]:
    """Items typed one per line or separated by commas or semicolons."""
    return [item.strip() for item in _LIST_SEPARATORS.split(value or "") if item.strip()]


# --- Writing: reply, note, logged call or meeting -------------------------------------------------


class _Composer(forms.Form):
    """What a reply and a note share: the text, files, and the newest message the agent had seen."""

    body = forms.CharField(label=_("Message"), required=False, widget=forms.Textarea(attrs={"rows": 6}))
    attachments = MultipleFileField(label=_("Attachments"), required=False)
    # The id of the newest message on the page when it was rendered; newer ones stop the send.
    seen = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    send_anyway = forms.BooleanField(
        label=_("I have read the new messages: send anyway"), required=False, widget=forms.CheckboxInput
    )

    def clean(self) -> dict:
        data = super().clean()
        if not (data.get("body") or "").strip() and not data.get("attachments") and not self.errors:
            raise forms.ValidationError(_("Write a message or attach a file."), code="empty")
        return data

    def seen_message_id(self) -> int | None:
        """The check the service should make: None when the agent chose to send anyway.

        A form without ``seen`` counts as having seen nothing, so it is held back if the ticket has messages.
        """
        if self.cleaned_data.get("send_anyway"):
            return None
        seen = self.cleaned_data.get("seen")
        return 0 if seen is None else seen


class ReplyForm(_Composer):
    prefix = "reply"
    cc = forms.CharField(
        label=_("CC"),
        required=False,
        help_text=_("Email addresses, separated by commas. Everyone here gets this and later replies."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    # The CC list as the page showed it: the ticket's CC changes only if the agent edited the field.
    cc_shown = forms.CharField(required=False, widget=forms.HiddenInput)
    status = forms.ChoiceField(
        label=_("Then set status to"),
        required=False,
        choices=[("", _("as usual (open)"))]
        + [(s.value, s.label) for s in (Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED)],
    )

    def __init__(self, *args: object, cc_initial: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["body"].widget.attrs.update({"data-key": "r"})
        if not self.is_bound:
            self.initial.setdefault("cc", cc_initial)
            self.initial.setdefault("cc_shown", cc_initial)

    def cc_addresses(self) -> list[str] | None:
        """The new CC list, or None when the agent left it as shown."""
        typed = self.cleaned_data.get("cc") or ""
        if split_list(typed) == split_list(self.cleaned_data.get("cc_shown") or ""):
            return None
        return split_list(typed)


class NoteForm(_Composer):
    prefix = "note"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["body"].label = _("Internal note")
        self.fields["body"].help_text = _('Only agents see notes. Mention a colleague with @username or @"Full Name".')
        self.fields["body"].widget.attrs.update({"data-key": "n", "rows": 4})


class InteractionForm(forms.Form):
    prefix = "log"
    kind = forms.ChoiceField(
        label=_("What"),
        choices=[(MessageKind.PHONE_CALL.value, _("Phone call")), (MessageKind.MEETING.value, _("Meeting"))],
    )
    body = forms.CharField(label=_("Summary"), widget=forms.Textarea(attrs={"rows": 3}))
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        help_text=_("Empty: just now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    duration_minutes = forms.IntegerField(label=_("Minutes"), required=False, min_value=0, max_value=24 * 60)


# --- Ticket properties: one small form per property, each one service call -----------------------


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=Status.choices)


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices)


class AssigneeForm(forms.Form):
    """The "Assign to me" button posts "me", which the view resolves; anybody else must be assignable."""

    assignee = forms.ModelChoiceField(label=_("Assignee"), queryset=None, required=False, empty_label=_("Unassigned"))

    def __init__(self, *args: object, agents: object = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["assignee"].queryset = agents
        self.fields["assignee"].label_from_instance = lambda u: u.get_full_name() or u.get_username()


class TeamForm(forms.Form):
    team = forms.ModelChoiceField(label=_("Team"), queryset=None, required=False, empty_label=_("No team"))

    def __init__(self, *args: object, **kwargs: object) -> None:
        from accounts.models import Team

        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["team"].queryset = Team.objects.order_by("name")


class TypeForm(forms.Form):
    type = forms.ModelChoiceField(label=_("Type"), queryset=None, required=False, empty_label=_("No type"))

    def __init__(self, *args: object, current_type_id: int | None = None, **kwargs: object) -> None:
        from django.db.models import Q

        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # A retired type stays selectable only on the ticket that already has it.
        self.fields["type"].queryset = TicketType.objects.filter(Q(is_active=True) | Q(pk=current_type_id))


class TagsForm(forms.Form):
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separated by commas."), widget=forms.TextInput()
    )

    def changes(self, current: Sequence[str]) -> tuple[list[str], list[str]]:
        """(add, remove) that turn ``current`` into the typed list. Unusable names are left to the service."""
        typed = split_list(self.cleaned_data.get("tags", ""))
        wanted = set()
        for name in typed:
            try:
                wanted.add(Tag.normalize(name))
            except Exception:  # the service reports it with its reason
                wanted.add(name)
        return sorted(wanted - set(current)), sorted(set(current) - wanted)


class CCForm(forms.Form):
    cc = forms.CharField(
        label=_("CC"),
        required=False,
        help_text=_("Email addresses, separated by commas. New addresses become contacts."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def addresses(self) -> list[str]:
        return split_list(self.cleaned_data.get("cc", ""))


class CustomFieldsForm(forms.Form):
    """The ticket custom fields an admin defined, typed for the browser; the domain validates values."""

    prefix = "cf"

    def __init__(self, *args: object, specs: Sequence[cf.FieldSpec] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.specs = list(specs)
        for spec in self.specs:
            self.fields[spec.key] = _custom_field(spec)

    def values(self) -> dict[str, object]:
        """Every field as submitted: an empty one clears the value (or is refused when required)."""
        result: dict[str, object] = {}
        for spec in self.specs:
            raw = self.cleaned_data.get(spec.key)
            if spec.type is cf.FieldType.MULTI_CHOICE:
                result[spec.key] = list(raw or [])
            else:
                result[spec.key] = "" if raw is None else raw
        return result


def _custom_field(spec: cf.FieldSpec) -> forms.Field:
    label = spec.label + (" *" if spec.required else "")
    common = {"label": label, "required": False}
    if spec.type is cf.FieldType.TEXTAREA:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), **common)
    if spec.type in (cf.FieldType.INTEGER, cf.FieldType.DECIMAL):
        return forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}), **common)
    if spec.type is cf.FieldType.BOOLEAN:
        return forms.ChoiceField(choices=[("", "—"), ("true", _("Yes")), ("false", _("No"))], **common)
    if spec.type is cf.FieldType.DATE:
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if spec.type is cf.FieldType.CHOICE:
        return forms.ChoiceField(choices=[("", "—"), *((c, c) for c in spec.choices)], **common)
    if spec.type is cf.FieldType.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            choices=[(c, c) for c in spec.choices], widget=forms.CheckboxSelectMultiple, **common
        )
    if spec.type is cf.FieldType.URL:
        return forms.CharField(widget=forms.URLInput(), **common)
    if spec.type is cf.FieldType.EMAIL:
        return forms.CharField(widget=forms.EmailInput(), **common)
    return forms.CharField(**common)


def custom_field_initial(specs: Sequence[cf.FieldSpec], stored: dict) -> dict[str, object]:
    initial: dict[str, object] = {}
    for spec in specs:
        value = (stored or {}).get(spec.key)
        if value is None:
            continue
        if spec.type is cf.FieldType.BOOLEAN:
            initial[spec.key] = "true" if value else "false"
        else:
            initial[spec.key] = value
    return initial


# --- Merging and linking --------------------------------------------------------------------------


class MergeForm(forms.Form):
    prefix = "merge"
    target = forms.CharField(
        label=_("Merge into ticket"), max_length=40, widget=forms.TextInput(attrs={"placeholder": "SD-123"})
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
    copy_people = forms.BooleanField(required=False)


class LinkForm(forms.Form):
    prefix = "link"
    target = forms.CharField(
        label=_("Link ticket"), max_length=40, widget=forms.TextInput(attrs={"placeholder": "SD-123"})
    )
    kind = forms.ChoiceField(label=_("Relation"), choices=LinkKind.choices, initial=LinkKind.RELATED)
