"""Template helpers of the agent workspace."""

from __future__ import annotations

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _

from tickets.choices import ACTIVE_STATUS_VALUES

register = template.Library()


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **changes: object) -> str:
    """The current query string with ``changes`` applied (for pager links)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        params[key] = value
    return params.urlencode()


@register.simple_tag(takes_context=True)
def query_without(context: template.Context, *keys: str) -> str:
    params = context["request"].GET.copy()
    for key in keys:
        params.pop(key, None)
    return params.urlencode()


@register.simple_tag
def sla_due(ticket: object) -> str:
    """The next SLA due time of a ticket as a countdown badge (overdue in red), or a dash."""
    due = getattr(ticket, "sla_due_at", None)
    if due is None or getattr(ticket, "status", None) not in ACTIVE_STATUS_VALUES:
        return format_html('<span class="muted">{}</span>', "—")
    now = timezone.now()
    if due <= now:
        return format_html(
            '<time class="sla sla-breached" datetime="{}" data-countdown>{}</time>',
            due.isoformat(),
            _("%(time)s overdue") % {"time": timeuntil(now, due)},
        )
    soon = (due - now).total_seconds() < 2 * 3600
    return format_html(
        '<time class="sla {}" datetime="{}" data-countdown>{}</time>',
        "sla-soon" if soon else "sla-ok",
        due.isoformat(),
        _("in %(time)s") % {"time": timeuntil(due, now)},
    )
