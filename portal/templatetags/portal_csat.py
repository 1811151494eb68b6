"""``{% csat_survey_for ticket as survey %}``: the survey the signed-in customer may answer on a ticket page.

Used by ``portal/csat/_ticket_rating.html``, so the ticket page needs nothing but ``ticket`` (read
through the scoped selectors) and ``request`` in its context. One query on solved tickets of the
customer's own; none otherwise.
"""

from __future__ import annotations

from django import template

from tickets import csat

register = template.Library()


@register.simple_tag(takes_context=True)
def csat_survey_for(context: template.Context, ticket: object):  # noqa: ANN201 - a survey or None
    request = context.get("request")
    if request is None or ticket is None or not request.user.is_authenticated:
        return None
    return csat.survey_for_customer(request.user, ticket)


@register.simple_tag
def csat_rating_form(survey: object):  # noqa: ANN201 - a RatingForm
    from portal.views.csat import RatingForm

    return RatingForm(initial={"rating": getattr(survey, "rating", ""), "comment": getattr(survey, "comment", "")})
