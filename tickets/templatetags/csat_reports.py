"""Satisfaction figures on the workspace's customer screens, scoped to the viewing agent (one query each).

- ``{% organization_csat organization as csat %}``: the organization's answers of the last 90 days.
- ``{% contact_recent_ratings contact as ratings %}``: a requester's latest answers.
"""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils import timezone

from tickets import csat

register = template.Library()

ORGANIZATION_DAYS = 90


@register.simple_tag(takes_context=True)
def organization_csat(context: template.Context, organization: object):  # noqa: ANN201 - a CsatFigure
    request = context["request"]
    since = timezone.now() - timedelta(days=ORGANIZATION_DAYS)
    return csat.organization_csat(request.user, organization.pk, since=since)


@register.simple_tag(takes_context=True)
def contact_recent_ratings(context: template.Context, contact: object) -> list:
    request = context["request"]
    return csat.contact_recent_ratings(request.user, contact.pk)
