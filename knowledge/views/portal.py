"""Knowledge base pages of the customer portal: home, categories, articles, search, suggestions,
votes and deflections. Thin: parse, call one selector or service, render.

Open to everybody (anonymous visitors included); what each visitor sees is decided by
``knowledge.selectors`` (customers and anonymous: published public versions only).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import translation
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.domain.permissions import Kind
from accounts.selectors import principal_for
from knowledge import selectors, services
from knowledge.domain.policy import normalize_language

_SEEN_KEY = "kb_seen"
_SEEN_MAX = 200


def _language(request: HttpRequest) -> str:
    return normalize_language(translation.get_language())


def _session_key(request: HttpRequest, *, create: bool) -> str:
    if not request.session.session_key and create:
        request.session.save()
    return request.session.session_key or ""


def _optional_url(name: str) -> str | None:
    """Links to pages of other portal areas, only once those routes exist."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    language = _language(request)
    return render(
        request,
        "knowledge/portal/home.html",
        {
            "title": _("Help centre"),
            "categories": [
                (category, category.name_in(language), category.description_in(language), count)
                for category, count in selectors.categories_with_counts(request.user, language)
            ],
            "popular": selectors.most_viewed(request.user, language),
            "new_ticket_url": _optional_url("portal:ticket_new"),
            "my_tickets_url": _optional_url("portal:tickets"),
            "kb_nav": "home",
        },
    )


@require_GET
def kb_category(request: HttpRequest, slug: str) -> HttpResponse:
    language = _language(request)
    category = selectors.category_by_slug(slug)
    if category is None:
        raise Http404("No such category.")
    articles = selectors.category_articles(request.user, category, language)
    if not articles and principal_for(request.user).kind is not Kind.AGENT:
        raise Http404("No such category.")  # an empty or agents-only category does not exist for customers
    return render(
        request,
        "knowledge/portal/category.html",
        {
            "title": category.name_in(language),
            "category": category,
            "category_name": category.name_in(language),
            "category_description": category.description_in(language),
            "articles": [(a, selectors.article_excerpt(a)) for a in articles],
            "kb_nav": "home",
        },
    )


@require_GET
def kb_article(request: HttpRequest, pk: int, slug: str) -> HttpResponse:
    page = selectors.article_page(request.user, pk, requested=request.GET.get("lang"), visitor=_language(request))
    if page is None:
        raise Http404("No such article.")
    version = page.version
    _count_view(request, version.article_id)
    vote = selectors.vote_of(request.user, request.session.session_key, pk)
    category = version.article.category
    return render(
        request,
        "knowledge/portal/article.html",
        {
            "title": version.title,
            "version": version,
            "article": version.article,
            "body_html": selectors.article_html(version),
            "other_versions": [(v, selectors.article_path(v)) for v in page.other_versions],
            "category": category,
            "category_name": category.name_in(_language(request)) if category else "",
            "vote": vote,
            "is_agent": principal_for(request.user).is_agent,
            "new_ticket_url": _optional_url("portal:ticket_new"),
            "kb_nav": "home",
        },
    )


def _count_view(request: HttpRequest, article_id: int) -> None:
    """Count a view once per session (a reload is not a new reader); agents' views are not counted.

    No session is started just for counting: an anonymous visitor without one counts every time.
    """
    if principal_for(request.user).is_agent:
        return
    if request.session.session_key or request.user.is_authenticated:
        seen = list(request.session.get(_SEEN_KEY, []))
        if article_id in seen:
            return
        request.session[_SEEN_KEY] = [*seen[-(_SEEN_MAX - 1) :], article_id]
    services.article_record_view(article_id=article_id)


@require_GET
def kb_search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    language = _language(request)
    results = selectors.search_articles(request.user, query, language) if query else []
    return render(
        request,
        "knowledge/portal/search.html",
        {
            "title": _("Search the help centre"),
            "query": query,
            "results": [(r, selectors.article_excerpt(r)) for r in results],
            "new_ticket_url": _optional_url("portal:ticket_new"),
            "kb_nav": "home",
        },
    )


@require_GET
def kb_suggest(request: HttpRequest) -> HttpResponse:
    """Articles for a ticket subject being typed: an HTML fragment (default) or JSON (``format=json``
    or ``Accept: application/json``)."""
    query = request.GET.get("q", "").strip()[:200]
    results = selectors.suggest_articles(request.user, query, _language(request))
    wants_json = request.GET.get("format") == "json" or "application/json" in request.headers.get("Accept", "")
    if wants_json:
        return JsonResponse(
            {
                "query": query,
                "results": [
                    {
                        "id": r.article_id,
                        "title": r.title,
                        "language": r.language,
                        "url": selectors.article_path(r),
                        "excerpt": selectors.article_excerpt(r, 140),
                    }
                    for r in results
                ],
            }
        )
    return render(
        request,
        "knowledge/_suggestion_results.html",
        {
            "query": query,
            "results": [(r, selectors.article_path(r), selectors.article_excerpt(r, 140)) for r in results],
            "subject_field": _subject_field(request.GET.get("subject_field", "")),
        },
    )


def _subject_field(name: str) -> str:
    name = (name or "").strip()
    return name if name.replace("_", "").replace("-", "").isalnum() and len(name) <= 50 else "subject"


@require_POST
def kb_vote(request: HttpRequest, pk: int) -> HttpResponse:
    article = selectors.article_readable(request.user, pk)
    if article is None:
        raise Http404("No such article.")
    answer = request.POST.get("helpful")
    language = normalize_language(request.POST.get("language"))
    slug = slugify(request.POST.get("slug", "")) or "article"
    back = reverse("portal:kb_article", args=[pk, slug]) + f"?lang={language}"
    if answer not in {"yes", "no"}:
        messages.error(request, _("Choose yes or no."))
        return redirect(back)
    try:
        services.article_vote(
            article=article,
            language=language,
            helpful=answer == "yes",
            user=request.user if request.user.is_authenticated else None,
            session_key=_session_key(request, create=True),
        )
    except services.KnowledgeError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Thank you for your feedback."))
    return redirect(back + "#helpful")


@require_http_methods(["GET", "POST"])
def kb_deflect(request: HttpRequest) -> HttpResponse:
    """POST (from the suggestions on the new-ticket form): record that the visitor left with this
    article, then show the "glad it helped" page (GET, so a reload records nothing twice)."""
    if request.method == "POST":
        raw = request.POST.get("kb_article", "")
        article = selectors.article_readable(request.user, int(raw)) if raw.isdigit() else None
        if article is None:
            raise Http404("No such article.")
        subject = request.POST.get(_subject_field(request.GET.get("subject_field", "")), "")
        contact = selectors.contact_of(request.user)
        services.deflection_record(
            article=article,
            language=normalize_language(request.POST.get("kb_language") or _language(request)),
            subject=subject,
            contact=contact,
            session_key="" if contact else _session_key(request, create=True),
        )
        return redirect(reverse("portal:kb_deflect") + f"?article={article.pk}")
    raw = request.GET.get("article", "")
    page = (
        selectors.article_page(request.user, int(raw), requested=None, visitor=_language(request))
        if raw.isdigit()
        else None
    )
    return render(
        request,
        "knowledge/portal/deflected.html",
        {
            "title": _("Glad it helped"),
            "version": page.version if page else None,
            "article_url": selectors.article_path(page.version) if page else None,
            "my_tickets_url": _optional_url("portal:tickets"),
            "kb_nav": "home",
        },
    )


urlpatterns = [
    path("", home, name="home"),
    path("kb/search/", kb_search, name="kb_search"),
    path("kb/suggest/", kb_suggest, name="kb_suggest"),
    path("kb/deflect/", kb_deflect, name="kb_deflect"),
    path("kb/categories/<slug:slug>/", kb_category, name="kb_category"),
    path("kb/articles/<int:pk>-<slug:slug>/", kb_article, name="kb_article"),
    path("kb/articles/<int:pk>/vote/", kb_vote, name="kb_vote"),
]
