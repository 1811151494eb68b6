"""Template tags of the knowledge base."""

from __future__ import annotations

from django import template
from django.template.loader import render_to_string
from django.utils import translation

from knowledge import selectors
from knowledge.domain.policy import normalize_language

register = template.Library()


@register.simple_tag(takes_context=True)
def kb_initial_suggestions(context: template.Context) -> str:
    """Suggestions rendered on the server when the new-ticket form is shown again with a subject
    (after a validation error), so they are there without JavaScript too. Nothing (and no query)
    on a fresh form. The subject comes from ``kb_query`` or the ``subject`` field of ``form``.
    """
    query = context.get("kb_query")
    if query is None:
        form = context.get("form")
        name = context.get("kb_subject_name") or "subject"
        if form is not None and getattr(form, "is_bound", False) and name in getattr(form, "fields", {}):
            query = form[name].value()
    if not query or not isinstance(query, str):
        return ""
    request = context.get("request")
    user = getattr(request, "user", None)
    results = selectors.suggest_articles(user, query, normalize_language(translation.get_language()))
    return render_to_string(
        "knowledge/_suggestion_results.html",
        {
            "query": query,
            "results": [(r, selectors.article_path(r), selectors.article_excerpt(r, 140)) for r in results],
            "subject_field": context.get("kb_subject_name") or "subject",
        },
        request=request,
    )
