"""Scoped reads of the knowledge base. Views never query the models directly.

Scope (``knowledge.domain.policy``): customers and anonymous visitors read published public
versions only; in the portal agents read published versions including internal articles; the
workspace shows agents everything. A version outside the caller's scope does not exist for them
(the views answer 404).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.db.models import Case, Exists, F, FloatField, OuterRef, Q, QuerySet, Value, When
from django.urls import reverse

from accounts.domain.permissions import Kind, Principal
from accounts.models import Contact
from accounts.selectors import UserLike, principal_for
from knowledge.choices import SEARCH_CONFIG, ArticleStatus, Language, Visibility
from knowledge.domain import policy, rendering
from knowledge.models import Article, ArticleTranslation, ArticleVote, Category

SUGGEST_LIMIT = 5
_WORD = re.compile(r"\w+", re.UNICODE)


# --- Scope --------------------------------------------------------------------------------------


def _portal_scope(principal: Principal) -> QuerySet[ArticleTranslation]:
    """What the portal shows this principal: published, and public unless they are an agent."""
    qs = ArticleTranslation.objects.filter(status=ArticleStatus.PUBLISHED)
    if not policy.sees_internal_articles(principal):
        qs = qs.filter(article__visibility=Visibility.PUBLIC)
    return qs


def portal_versions_visible_to(user: UserLike) -> QuerySet[ArticleTranslation]:
    return _portal_scope(principal_for(user)).select_related("article", "article__category")


def versions_for_authoring(user: UserLike) -> QuerySet[ArticleTranslation]:
    """Every version, drafts and internal ones included, for agents; nothing for anybody else."""
    principal = principal_for(user)
    qs = ArticleTranslation.objects.select_related("article", "article__category", "updated_by")
    if not policy.sees_drafts(principal):
        return qs.none()
    return qs


def article_for_authoring(user: UserLike, article_id: int) -> Article | None:
    if not policy.sees_drafts(principal_for(user)):
        return None
    return Article.objects.select_related("category").prefetch_related("translations").filter(pk=article_id).first()


def categories() -> QuerySet[Category]:
    return Category.objects.all()


def categories_for_authoring() -> QuerySet[Category]:
    """Every category with how many articles it holds (drafts and internal ones included)."""
    from django.db.models import Count

    return Category.objects.annotate(n=Count("articles"))


def category_by_slug(slug: str) -> Category | None:
    return Category.objects.filter(slug=slug).first()


def category_by_id(pk: int) -> Category | None:
    return Category.objects.filter(pk=pk).first()


def vote_of(user: UserLike, session_key: str | None, article_id: int) -> ArticleVote | None:
    """The visitor's own vote on an article (by user when signed in, else by session)."""
    if user is not None and user.is_authenticated:
        return ArticleVote.objects.filter(article_id=article_id, user=user).first()
    if session_key:
        return ArticleVote.objects.filter(article_id=article_id, user=None, session_key=session_key).first()
    return None


def contact_of(user: UserLike) -> Contact | None:
    """The signed-in customer's contact (deflections are recorded against it)."""
    principal = principal_for(user)
    if principal.kind is not Kind.CUSTOMER or principal.contact_id is None:
        return None
    return Contact.objects.filter(pk=principal.contact_id).first()


def _in_language(qs: QuerySet[ArticleTranslation], language: str) -> QuerySet[ArticleTranslation]:
    """One version per article: the visitor's language, else the English one."""
    if language == policy.DEFAULT_LANGUAGE:
        return qs.filter(language=language)
    own = qs.filter(article_id=OuterRef("article_id"), language=language)
    return qs.filter(Q(language=language) | Q(language=policy.DEFAULT_LANGUAGE) & ~Exists(own))


# --- Portal pages -------------------------------------------------------------------------------


def most_viewed(user: UserLike, language: str, *, limit: int = 8) -> list[ArticleTranslation]:
    qs = _in_language(portal_versions_visible_to(user), language)
    return list(qs.order_by("-article__view_count", "article_id")[:limit])


def category_articles(user: UserLike, category: Category, language: str, *, limit: int = 200) -> list:
    qs = _in_language(portal_versions_visible_to(user), language).filter(article__category=category)
    return list(qs.order_by("title", "article_id")[:limit])


def categories_with_counts(user: UserLike, language: str) -> list[tuple[Category, int]]:
    """Categories that have something this visitor can read, with how many articles (two queries)."""
    from django.db.models import Count

    qs = _in_language(_portal_scope(principal_for(user)), language)
    counts = dict(
        qs.filter(article__category__isnull=False)
        .values_list("article__category")
        .annotate(n=Count("article_id", distinct=True))
        .values_list("article__category", "n")
    )
    return [(c, counts[c.pk]) for c in Category.objects.filter(pk__in=counts.keys())]


@dataclass(frozen=True)
class ArticlePage:
    version: ArticleTranslation
    other_versions: list[ArticleTranslation]  # the same article in the other languages the visitor may read


def article_page(user: UserLike, article_id: int, *, requested: str | None, visitor: str | None) -> ArticlePage | None:
    """The version to show (asked-for language, else the visitor's, else English), or None."""
    versions = list(portal_versions_visible_to(user).filter(article_id=article_id))
    by_language = {v.language: v for v in versions}
    chosen = policy.choose_language(by_language.keys(), requested=requested, visitor=visitor)
    if chosen is None:
        return None
    others = [v for v in versions if v.language != chosen]
    return ArticlePage(version=by_language[chosen], other_versions=others)


def article_readable(user: UserLike, article_id: int) -> Article | None:
    """The article if the visitor may read at least one version of it (for votes and deflections)."""
    version = portal_versions_visible_to(user).filter(article_id=article_id).first()
    return version.article if version else None


# --- Rendering ----------------------------------------------------------------------------------


def own_image_hosts() -> tuple[str, ...]:
    host = urlsplit(settings.SITE_URL).hostname
    return (host,) if host else ()


def markdown_html(body: str) -> str:
    return rendering.render_markdown(body, image_hosts=own_image_hosts())


def article_html(version: ArticleTranslation) -> str:
    return markdown_html(version.body)


def article_excerpt(version: ArticleTranslation, limit: int = 180) -> str:
    return rendering.markdown_to_text(version.body, limit=limit)


def article_path(version: ArticleTranslation) -> str:
    return reverse("portal:kb_article", args=[version.article_id, version.slug]) + f"?lang={version.language}"


def article_portal_url(version: ArticleTranslation) -> str:
    return settings.SITE_URL.rstrip("/") + article_path(version)


# --- Search -------------------------------------------------------------------------------------


def clean_query(query: str | None, limit: int = 200) -> str:
    """What a search box may send on to the database: no NUL or control characters, at most 200."""
    text = "".join(ch if ch.isprintable() else " " for ch in (query or "")[: limit * 2])
    return " ".join(text.split())[:limit]


def _words(query: str) -> list[str]:
    return [w for w in _WORD.findall(query or "") if w.lower() not in {"or", "and", "not"}][:12]


def _fts(
    qs: QuerySet[ArticleTranslation], query: str, languages: tuple[str, ...], *, any_word: bool
) -> QuerySet[ArticleTranslation]:
    """PostgreSQL full-text search: each language with its own configuration, matching the
    partial GIN indexes of migration 0002 (``to_tsvector(config, title || ' ' || body)``).
    ``any_word`` ORs the words (suggestions while typing); otherwise websearch syntax, all words.
    """
    from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

    words = _words(query)
    if not words:
        return qs.none()
    text = " or ".join(words) if any_word else query
    condition = Q()
    ranks = []
    aliases = {}
    for language in languages:
        config = SEARCH_CONFIG[language]
        search = SearchQuery(text, config=config, search_type="websearch")
        aliases[f"fts_{language}"] = SearchVector("title", "body", config=config)
        condition |= Q(language=language, **{f"fts_{language}": search})
        weighted = SearchVector("title", weight="A", config=config) + SearchVector("body", weight="B", config=config)
        ranks.append(When(language=language, then=SearchRank(weighted, search)))
    return (
        qs.alias(**aliases)
        .filter(condition)
        .annotate(rank=Case(*ranks, default=Value(0.0), output_field=FloatField()))
        .order_by("-rank", "-article__view_count", "article_id")
    )


def _like(qs: QuerySet[ArticleTranslation], query: str, *, any_word: bool) -> QuerySet[ArticleTranslation]:
    """The SQLite fallback (``make run``): words in the title or body, title matches first."""
    words = [w for w in _words(query) if len(w) >= 2] or _words(query)
    if not words:
        return qs.none()
    condition = Q() if not any_word else Q(pk__in=[])
    for word in words:
        match = Q(title__icontains=word) | Q(body__icontains=word)
        condition = (condition | match) if any_word else (condition & match)
    in_title = Q()
    for word in words:
        in_title |= Q(title__icontains=word)
    return (
        qs.filter(condition)
        .annotate(rank=Case(When(in_title, then=Value(1.0)), default=Value(0.0), output_field=FloatField()))
        .order_by("-rank", "-article__view_count", "article_id")
    )


def _search(
    qs: QuerySet[ArticleTranslation], query: str, languages: tuple[str, ...], *, any_word: bool
) -> QuerySet[ArticleTranslation]:
    if connection.vendor == "postgresql":
        return _fts(qs, query, languages, any_word=any_word)
    return _like(qs.filter(language__in=languages), query, any_word=any_word)


def _languages_for(language: str) -> tuple[str, ...]:
    return (language,) if language == policy.DEFAULT_LANGUAGE else (language, policy.DEFAULT_LANGUAGE)


def search_articles(user: UserLike, query: str, language: str, *, limit: int = 50) -> list[ArticleTranslation]:
    """Ranked portal search in the visitor's language (English versions of untranslated articles
    too). All words must match; when nothing does, any word may (so a long question still finds).
    """
    query = clean_query(query)
    base = _in_language(portal_versions_visible_to(user), language)
    results = list(_search(base, query, _languages_for(language), any_word=False)[:limit])
    if not results and len(_words(query)) > 1:
        results = list(_search(base, query, _languages_for(language), any_word=True)[:limit])
    return results


def suggest_articles(user: UserLike, query: str, language: str) -> list[ArticleTranslation]:
    """Up to five published **public** articles for a ticket subject being typed (never internal
    ones, even for an agent testing the form)."""
    query = clean_query(query)
    if len(" ".join(_words(query))) < 3:
        return []
    base = _in_language(_portal_scope(principal_for(None)).select_related("article"), language)
    return list(_search(base, query, _languages_for(language), any_word=True)[:SUGGEST_LIMIT])


def link_search(user: UserLike, query: str, *, limit: int = 10) -> list[ArticleTranslation]:
    """For agents inserting a link into a reply: published public versions in any language (an
    internal article would be a dead link for the customer). Most viewed first without a query."""
    if not policy.sees_drafts(principal_for(user)):
        return []
    query = clean_query(query)
    base = _portal_scope(principal_for(None)).select_related("article")
    if not _words(query):
        return list(base.order_by("-article__view_count", "article_id", "language")[:limit])
    languages = tuple(Language.values)
    return list(_search(base, query, languages, any_word=True)[:limit])


# --- Workspace lists ----------------------------------------------------------------------------


def authoring_list(
    user: UserLike, *, status: str = "", language: str = "", category: str = "", query: str = ""
) -> QuerySet[ArticleTranslation]:
    qs = versions_for_authoring(user)
    if status in ArticleStatus.values:
        qs = qs.filter(status=status)
    if language in Language.values:
        qs = qs.filter(language=language)
    if category == "none":
        qs = qs.filter(article__category__isnull=True)
    elif category.isdigit():
        qs = qs.filter(article__category_id=int(category))
    query = clean_query(query)
    if query:
        qs = qs.filter(title__icontains=query)
    return qs.order_by(F("updated_at").desc(), "-id")
