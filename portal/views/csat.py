"""Rating a solved ticket (from the email link or the portal ticket page) and the brand's logo and colours.

- ``csat``: the page an emailed link opens. The signed token is the proof, scoped to exactly one
  survey, so it works without signing in. GET shows the form (a ``?rating=good|bad`` link only
  pre-selects: link scanners record nothing); POST records the answer. A tampered link is a 400
  page, an expired one a 400 page saying so, a survey that does not exist a 404, a ticket reopened
  since a 409 page that says it can no longer be rated.
- ``csat_ticket``: the same form on the portal's ticket page, for the signed-in requester
  (read through ``ticket_for``: not visible is a 404).
- ``brand_logo`` and ``brand_css``: public, cached, versioned by the settings' last change.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_safe

from accounts.models import Contact
from portal.views.common import customer_required, principal
from service_desk.branding import brand
from service_desk.domain.branding import MAX_LOGO_BYTES, LogoRejected, logo_extension, logo_type
from service_desk.models import DeskSettings
from tickets import csat
from tickets.choices import Channel, SatisfactionRating
from tickets.domain.csat import MAX_COMMENT
from tickets.models import SatisfactionSurvey, Ticket
from tickets.selectors import ticket_for
from tickets.services import Actor, PermissionDenied, TicketError


class RatingForm(forms.Form):
    rating = forms.ChoiceField(
        label=_("Your rating"),
        choices=SatisfactionRating.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose good or bad."), "invalid_choice": _("Choose good or bad.")},
    )
    comment = forms.CharField(
        label=_("Comment (optional)"),
        help_text=_("Tell us what went well or what we could do better."),
        required=False,
        max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


def _initial(survey: SatisfactionSurvey, request: HttpRequest) -> dict[str, str]:
    wanted = request.GET.get("rating", "")
    rating = wanted if wanted in SatisfactionRating.values else survey.rating
    return {"rating": rating, "comment": survey.comment}


def _answer(form: RatingForm, survey: SatisfactionSurvey, actor: Actor) -> SatisfactionSurvey:
    """Record a valid form's answer; service errors land on the form (and are re-raised when closed)."""
    try:
        return csat.survey_answer(
            survey=survey, rating=form.cleaned_data["rating"], comment=form.cleaned_data["comment"], by=actor
        )
    except csat.SurveyClosed:
        raise
    except TicketError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        raise


_LINK_PROBLEMS = {
    "invalid": (400, _("This rating link is not valid. Please use the link from the email exactly as it was sent.")),
    "expired": (400, _("This rating link has expired.")),
    "unknown": (404, _("This survey does not exist.")),
}


@require_http_methods(["GET", "POST"])
def rate_from_link(request: HttpRequest, token: str) -> HttpResponse:
    try:
        survey = csat.survey_from_token(token)
    except csat.SurveyLinkInvalid as exc:
        status, text = _LINK_PROBLEMS.get(exc.reason, _LINK_PROBLEMS["invalid"])
        return render(request, "portal/csat/problem.html", {"title": _("Rating"), "problem": text}, status=status)
    ticket = survey.ticket
    context = {"title": _("Rate your request"), "survey": survey, "ticket": ticket}
    if not csat.survey_is_open(survey, ticket):
        return _closed(request, ticket)
    if request.method == "POST":
        form = RatingForm(request.POST)
        if form.is_valid():
            user = request.user if request.user.is_authenticated else None
            contact_user = user if user is not None and user.pk == survey.contact.user_id else None
            actor = Actor.customer(survey.contact, Channel.PORTAL, user=contact_user)
            try:
                _answer(form, survey, actor)
            except csat.SurveyClosed:
                return _closed(request, ticket)
            except TicketError:
                pass
            else:
                return redirect(reverse("portal:csat", args=[token]) + "?saved=1")
        return render(request, "portal/csat/rate.html", {**context, "form": form}, status=400)
    form = RatingForm(initial=_initial(survey, request))
    context.update(form=form, saved=request.GET.get("saved") == "1" and bool(survey.rating))
    return render(request, "portal/csat/rate.html", context)


def _closed(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    text = gettext("%(reference)s was reopened after this survey was sent, so it can no longer be rated.") % {
        "reference": ticket.reference
    }
    return render(request, "portal/csat/problem.html", {"title": _("Rating"), "problem": text}, status=409)


def _ticket_url(ticket: Ticket) -> str:
    try:
        return reverse("portal:ticket", args=[ticket.reference])
    except NoReverseMatch:  # the portal ticket page is not there: this area's own page
        return reverse("portal:csat_ticket", args=[ticket.reference])


@require_http_methods(["GET", "POST"])
@customer_required
def rate_ticket(request: HttpRequest, ref: str) -> HttpResponse:
    """The rating form of a solved ticket for its signed-in requester (POST from the ticket page)."""
    try:
        ticket = ticket_for(request.user, ref)
    except Ticket.DoesNotExist as exc:
        raise Http404("No such ticket.") from exc
    contact_id = principal(request).contact_id
    if ticket.requester_id != contact_id:
        raise Http404("No survey for you on this ticket.")  # a colleague's ticket: only its requester rates
    survey = csat.survey_for_customer(request.user, ticket)
    if survey is None:
        if request.method == "POST":
            messages.error(request, gettext("This ticket cannot be rated now."))
            return redirect(_ticket_url(ticket))
        raise Http404("No survey on this ticket.")
    context = {"title": _("Rate your request"), "survey": survey, "ticket": ticket}
    if request.method == "POST":
        form = RatingForm(request.POST)
        if form.is_valid():
            contact = Contact.objects.get(pk=contact_id)
            try:
                _answer(form, survey, Actor.customer(contact, Channel.PORTAL, user=request.user))
            except csat.SurveyClosed:
                messages.error(request, gettext("This ticket was reopened, so it can no longer be rated."))
                return redirect(_ticket_url(ticket))
            except PermissionDenied as exc:
                raise Http404("No survey for you on this ticket.") from exc
            except TicketError:
                pass
            else:
                messages.success(request, gettext("Thank you for your rating."))
                return redirect(_ticket_url(ticket))
        return render(request, "portal/csat/ticket_rate.html", {**context, "form": form}, status=400)
    form = RatingForm(initial=_initial(survey, request))
    return render(request, "portal/csat/ticket_rate.html", {**context, "form": form})


# --- Branding ----------------------------------------------------------------------------------------

_CACHE_CONTROL = "public, max-age=86400"
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def _not_modified(request: HttpRequest, etag: str) -> bool:
    return etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]


@require_safe
def brand_logo(request: HttpRequest) -> HttpResponse:
    """The logo uploaded in the admin, with the type sniffed from its bytes; 404 without one."""
    current = brand()
    if not current.has_logo:
        raise Http404("No logo.")
    etag = f'"logo-{current.version}"'
    if _not_modified(request, etag):
        response: HttpResponse = HttpResponseNotModified()
    else:
        try:
            with default_storage.open(current.logo_name, "rb") as handle:
                data = handle.read(MAX_LOGO_BYTES + 1)
            mime = logo_type(data)
        except (OSError, LogoRejected) as exc:  # gone from the storage, or not put there by the admin
            raise Http404("No logo.") from exc
        response = HttpResponse(data, content_type=mime)
        response["Content-Disposition"] = f'inline; filename="logo.{logo_extension(mime)}"'
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["ETag"] = etag
    response["Cache-Control"] = _CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_safe
def brand_css(request: HttpRequest) -> HttpResponse:
    """The brand colours as CSS custom properties (a stylesheet, so no inline styles are needed)."""
    current = brand()
    defaults = DeskSettings._meta
    primary = (
        current.primary_colour
        if _HEX.match(current.primary_colour or "")
        else defaults.get_field("primary_colour").default
    )
    accent = (
        current.accent_colour
        if _HEX.match(current.accent_colour or "")
        else defaults.get_field("accent_colour").default
    )
    etag = f'"brand-{current.version}"'
    if _not_modified(request, etag):
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(f":root {{ --brand: {primary}; --accent: {accent}; }}\n", content_type="text/css")
    response["ETag"] = etag
    response["Cache-Control"] = _CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    return response


urlpatterns = [
    path("rate/<str:token>/", rate_from_link, name="csat"),
    path("tickets/<str:ref>/rating/", rate_ticket, name="csat_ticket"),
    path("brand/logo/", brand_logo, name="brand_logo"),
    path("brand/colours.css", brand_css, name="brand_css"),
]
