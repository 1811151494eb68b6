"""Knowledge base authoring in the agent workspace (/desk/kb/...), and the article-link picker of
the ticket page. Thin: parse, call one selector or service, render.

All agents write drafts; team leads and admins publish, unpublish, change published versions and
manage categories (``knowledge.domain.policy``). The services enforce it; the templates only hide
buttons a person cannot use.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from knowledge import selectors, services
from knowledge.choices import ArticleStatus, Language, Visibility
from knowledge.domain import policy
from knowledge.forms import ArticleForm, CategoryForm
from knowledge.models import Article
from tickets.views.common import agent_required, principal

PAGE_SIZE = 50


def _permissions(request: HttpRequest) -> dict[str, bool]:
    p = principal(request)
    return {"can_publish": policy.can_publish(p), "can_manage_categories": policy.can_manage_categories(p)}


@agent_required
@require_GET
def kb_articles(request: HttpRequest) -> HttpResponse:
    filters = {
        "status": request.GET.get("status", ""),
        "language": request.GET.get("language", ""),
        "category": request.GET.get("category", ""),
        "query": request.GET.get("q", "")[:200],
    }
    qs = selectors.authoring_list(request.user, **filters)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "knowledge/desk/articles.html",
        {
            "title": _("Knowledge base"),
            "page": page,
            "filters": filters,
            "categories": list(selectors.categories()),
            "statuses": ArticleStatus.choices,
            "languages": Language.choices,
            **_permissions(request),
        },
    )


def _version_input(form: ArticleForm) -> services.VersionInput:
    data = form.cleaned_data
    return services.VersionInput(
        language=data["language"],
        title=data["title"],
        body=data["body"],
        slug=data["slug"],
        category=data["category"],
        visibility=data["visibility"],
    )


def _apply_error(form: ArticleForm, exc: services.KnowledgeError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


@agent_required
@require_http_methods(["GET", "POST"])
def kb_article_new(request: HttpRequest) -> HttpResponse:
    preview = None
    if request.method == "POST":
        form = ArticleForm(request.POST)
        action = request.POST.get("action", "save")
        if form.is_valid():
            if action == "preview":
                preview = selectors.markdown_html(form.cleaned_data["body"])
            else:
                try:
                    version = services.article_create(
                        data=_version_input(form), by=request.user, publish=action == "save_publish"
                    )
                except services.KnowledgeError as exc:
                    _apply_error(form, exc)
                else:
                    messages.success(request, _("Article saved."))
                    return redirect(_edit_url(version.article_id, version.language))
    else:
        form = ArticleForm(
            initial={"language": policy.normalize_language(request.LANGUAGE_CODE), "visibility": Visibility.PUBLIC}
        )
    return render(
        request,
        "knowledge/desk/article_form.html",
        {"title": _("New article"), "form": form, "preview": preview, "article": None, **_permissions(request)},
    )


def _edit_url(article_id: int, language: str) -> str:
    return reverse("desk:kb_article_edit", args=[article_id]) + f"?lang={language}"


@agent_required
@require_http_methods(["GET", "POST"])
def kb_article_edit(request: HttpRequest, pk: int) -> HttpResponse:
    article = selectors.article_for_authoring(request.user, pk)
    if article is None:
        raise Http404("No such article.")
    versions = {v.language: v for v in article.translations.all()}
    language = request.POST.get("language") or request.GET.get("lang") or next(iter(versions), "en")
    if language not in Language.values:
        language = policy.DEFAULT_LANGUAGE
    version = versions.get(language)
    preview = None
    if request.method == "POST":
        action = request.POST.get("action", "save")
        if action in {"publish", "unpublish", "delete"}:
            return _status_action(request, article, language, action)
        form = ArticleForm(request.POST)
        if form.is_valid():
            if action == "preview":
                preview = selectors.markdown_html(form.cleaned_data["body"])
            else:
                try:
                    saved = services.article_update(article=article, data=_version_input(form), by=request.user)
                    if action == "save_publish":
                        services.article_publish(article=article, language=saved.language, by=request.user)
                except services.KnowledgeError as exc:
                    _apply_error(form, exc)
                else:
                    messages.success(
                        request, _("Article published.") if action == "save_publish" else _("Article saved.")
                    )
                    return redirect(_edit_url(article.pk, saved.language))
    else:
        initial = {"language": language, "category": article.category_id, "visibility": article.visibility}
        if version is not None:
            initial.update({"title": version.title, "slug": version.slug, "body": version.body})
        form = ArticleForm(initial=initial)
    public_url = (
        selectors.article_path(version)
        if version is not None and version.is_published and article.visibility == Visibility.PUBLIC
        else None
    )
    return render(
        request,
        "knowledge/desk/article_form.html",
        {
            "title": version.title if version else _("Edit article"),
            "form": form,
            "preview": preview,
            "article": article,
            "version": version,
            "language": language,
            "versions": [(code, name, versions.get(code)) for code, name in Language.choices],
            "public_url": public_url,
            "locked": version is not None
            and version.is_published
            and not policy.can_edit_published(principal(request)),
            **_permissions(request),
        },
    )


def _status_action(request: HttpRequest, article: Article, language: str, action: str) -> HttpResponse:
    try:
        if action == "publish":
            services.article_publish(article=article, language=language, by=request.user)
            messages.success(request, _("Article published."))
        elif action == "unpublish":
            services.article_unpublish(article=article, language=language, by=request.user)
            messages.success(request, _("Article unpublished: it is a draft again."))
        else:
            services.article_delete(article=article, by=request.user)
            messages.success(request, _("Article deleted."))
            return redirect("desk:kb_articles")
    except services.KnowledgeError as exc:
        messages.error(request, exc.message)
    return redirect(_edit_url(article.pk, language))


@agent_required
@require_http_methods(["GET", "POST"])
def kb_categories(request: HttpRequest) -> HttpResponse:
    form = CategoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.category_create(data=services.CategoryInput(**form.cleaned_data), by=request.user)
        except services.KnowledgeError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Category created."))
            return redirect("desk:kb_categories")
    rows = selectors.categories_for_authoring()
    return render(
        request,
        "knowledge/desk/categories.html",
        {"title": _("Knowledge base categories"), "form": form, "rows": rows, **_permissions(request)},
    )


@agent_required
@require_http_methods(["GET", "POST"])
def kb_category_edit(request: HttpRequest, pk: int) -> HttpResponse:
    category = selectors.category_by_id(pk)
    if category is None:
        raise Http404("No such category.")
    if request.method == "POST" and request.POST.get("action") == "delete":
        try:
            services.category_delete(category=category, by=request.user)
        except services.KnowledgeError as exc:
            messages.error(request, exc.message)
            return redirect("desk:kb_category_edit", pk=pk)
        messages.success(request, _("Category deleted; its articles have no category now."))
        return redirect("desk:kb_categories")
    if request.method == "POST":
        form = CategoryForm(request.POST)
        if form.is_valid():
            try:
                services.category_update(
                    category=category, data=services.CategoryInput(**form.cleaned_data), by=request.user
                )
            except services.KnowledgeError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, _("Category saved."))
                return redirect("desk:kb_categories")
    else:
        form = CategoryForm(
            initial={
                f: getattr(category, f)
                for f in ("name", "name_de", "slug", "description", "description_de", "position")
            }
        )
    return render(
        request,
        "knowledge/desk/category_form.html",
        {"title": category.name, "form": form, "category": category, **_permissions(request)},
    )


@agent_required
@require_GET
def kb_link_search(request: HttpRequest) -> HttpResponse:
    """Published public articles for the "Insert article" picker of the reply form (HTML fragment)."""
    query = request.GET.get("q", "")[:200]
    results = selectors.link_search(request.user, query)
    return render(
        request,
        "knowledge/desk/_link_results.html",
        {"query": query, "results": [(r, selectors.article_portal_url(r)) for r in results]},
    )


urlpatterns = [
    path("kb/", kb_articles, name="kb_articles"),
    path("kb/articles/new/", kb_article_new, name="kb_article_new"),
    path("kb/articles/<int:pk>/", kb_article_edit, name="kb_article_edit"),
    path("kb/categories/", kb_categories, name="kb_categories"),
    path("kb/categories/<int:pk>/", kb_category_edit, name="kb_category_edit"),
    path("kb/link-search/", kb_link_search, name="kb_link_search"),
]
