"""Every write of the knowledge base. Atomic, validated before writing, permission-checked.

``by`` is the user acting (an agent for authoring). Visitors' writes (votes, views, deflections)
take the visitor's user or session key instead and need no permission beyond being able to read
the article, which the view checked through ``knowledge.selectors``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.models import Contact
from accounts.selectors import UserLike, principal_for
from knowledge.choices import ArticleStatus, Language, Visibility
from knowledge.domain import policy
from knowledge.models import Article, ArticleTranslation, ArticleVote, Category, Deflection

TITLE_MAX = 200
BODY_MAX = 200_000
SUBJECT_MAX = 255


class KnowledgeError(Exception):
    """The request was invalid and nothing was written. ``field`` names the input at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class PermissionDenied(KnowledgeError):  # noqa: N818 - mirrors tickets.services.PermissionDenied
    """The user may not make this change at all."""


# --- Validation helpers ---------------------------------------------------------------------------


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise PermissionDenied(message)


def _clean_language(language: str) -> str:
    if language not in Language.values:
        raise KnowledgeError(_("Choose English or German."), field="language")
    return language


def _clean_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise KnowledgeError(_("Give the article a title."), field="title")
    if len(title) > TITLE_MAX:
        raise KnowledgeError(_("The title is too long (at most 200 characters)."), field="title")
    return title


def _clean_slug(slug: str, fallback: str, *, max_length: int, field: str = "slug") -> str:
    cleaned = slugify(slug or "") or slugify(fallback or "")
    if not cleaned:
        # A title without Latin letters (or only symbols): a neutral slug still gives a valid URL.
        cleaned = "article"
    if len(cleaned) > max_length:
        cleaned = cleaned[:max_length].rstrip("-")
    return cleaned


def _clean_body(body: str) -> str:
    body = (body or "").replace("\r\n", "\n")
    if len(body) > BODY_MAX:
        raise KnowledgeError(_("The article is too long."), field="body")
    return body


def _clean_visibility(visibility: str) -> str:
    if visibility not in Visibility.values:
        raise KnowledgeError(_("Choose public or internal."), field="visibility")
    return visibility


# --- Categories ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryInput:
    name: str
    slug: str = ""
    name_de: str = ""
    description: str = ""
    description_de: str = ""
    position: int = 0


def _category_fields(data: CategoryInput, *, exclude_pk: int | None = None) -> dict[str, object]:
    name = " ".join((data.name or "").split())
    if not name:
        raise KnowledgeError(_("Give the category a name."), field="name")
    if len(name) > 120 or len(data.name_de or "") > 120:
        raise KnowledgeError(_("The name is too long (at most 120 characters)."), field="name")
    slug = _clean_slug(data.slug, name, max_length=120)
    taken = Category.objects.filter(slug=slug)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise KnowledgeError(_("Another category already uses this slug."), field="slug")
    if data.position < 0:
        raise KnowledgeError(_("The position cannot be negative."), field="position")
    return {
        "name": name,
        "slug": slug,
        "name_de": " ".join((data.name_de or "").split()),
        "description": (data.description or "").strip(),
        "description_de": (data.description_de or "").strip(),
        "position": data.position,
    }


@transaction.atomic
def category_create(*, data: CategoryInput, by: UserLike) -> Category:
    _require(policy.can_manage_categories(principal_for(by)), _("Only team leads and admins manage categories."))
    return Category.objects.create(**_category_fields(data))


@transaction.atomic
def category_update(*, category: Category, data: CategoryInput, by: UserLike) -> Category:
    _require(policy.can_manage_categories(principal_for(by)), _("Only team leads and admins manage categories."))
    for name, value in _category_fields(data, exclude_pk=category.pk).items():
        setattr(category, name, value)
    category.save()
    return category


@transaction.atomic
def category_delete(*, category: Category, by: UserLike) -> None:
    """Its articles stay, without a category."""
    _require(policy.can_manage_categories(principal_for(by)), _("Only team leads and admins manage categories."))
    category.delete()


# --- Articles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionInput:
    """What an author submits for one language version (and the article's shared settings)."""

    language: str
    title: str
    body: str = ""
    slug: str = ""
    category: Category | None = None
    visibility: str = Visibility.PUBLIC


def _has_published_version(article: Article) -> bool:
    return article.translations.filter(status=ArticleStatus.PUBLISHED).exists()


@transaction.atomic
def article_create(*, data: VersionInput, by: UserLike, publish: bool = False) -> ArticleTranslation:
    """A new article with its first version (a draft, unless ``publish`` and the author may publish)."""
    principal = principal_for(by)
    _require(policy.can_write_drafts(principal), _("Only agents write articles."))
    if publish:
        _require(policy.can_publish(principal), _("Only team leads and admins publish articles."))
    language = _clean_language(data.language)
    title = _clean_title(data.title)
    fields = {
        "slug": _clean_slug(data.slug, title, max_length=200),
        "body": _clean_body(data.body),
    }
    article = Article.objects.create(
        category=data.category, visibility=_clean_visibility(data.visibility), created_by=by
    )
    now = timezone.now()
    return ArticleTranslation.objects.create(
        article=article,
        language=language,
        title=title,
        author=by,
        updated_by=by,
        status=ArticleStatus.PUBLISHED if publish else ArticleStatus.DRAFT,
        published_at=now if publish else None,
        **fields,
    )


@transaction.atomic
def article_update(*, article: Article, data: VersionInput, by: UserLike) -> ArticleTranslation:
    """Save one language version (created as a draft when the language is new) and the article's
    category and visibility. A published version, or the settings of an article customers can
    read, may only be changed by those who may publish.
    """
    principal = principal_for(by)
    _require(policy.can_write_drafts(principal), _("Only agents write articles."))
    article = Article.objects.select_for_update().get(pk=article.pk)
    language = _clean_language(data.language)
    title = _clean_title(data.title)
    slug = _clean_slug(data.slug, title, max_length=200)
    body = _clean_body(data.body)
    visibility = _clean_visibility(data.visibility)
    version = ArticleTranslation.objects.filter(article=article, language=language).first()
    if version is not None and version.is_published:
        _require(
            policy.can_edit_published(principal),
            _("This version is published: only team leads and admins can change it. Ask one to unpublish it."),
        )
    settings_changed = article.category_id != (data.category.pk if data.category else None) or (
        article.visibility != visibility
    )
    if settings_changed and _has_published_version(article):
        _require(
            policy.can_edit_published(principal),
            _("The article is published: only team leads and admins can move it or change who sees it."),
        )
    if settings_changed:
        article.category = data.category
        article.visibility = visibility
    article.save()  # bumps updated_at
    if version is None:
        return ArticleTranslation.objects.create(
            article=article, language=language, title=title, slug=slug, body=body, author=by, updated_by=by
        )
    version.title, version.slug, version.body, version.updated_by = title, slug, body, by
    version.save(update_fields=["title", "slug", "body", "updated_by", "updated_at"])
    return version


def _set_status(article: Article, language: str, by: UserLike, status: str) -> ArticleTranslation:
    _require(policy.can_publish(principal_for(by)), _("Only team leads and admins publish articles."))
    version = (
        ArticleTranslation.objects.select_for_update()
        .filter(article=article, language=_clean_language(language))
        .first()
    )
    if version is None:
        raise KnowledgeError(_("There is no version in this language yet."), field="language")
    if version.status == status:
        return version
    version.status = status
    version.updated_by = by
    if status == ArticleStatus.PUBLISHED:
        version.published_at = timezone.now()
    else:
        version.published_at = None
    version.save(update_fields=["status", "published_at", "updated_by", "updated_at"])
    Article.objects.filter(pk=article.pk).update(updated_at=timezone.now())
    return version


@transaction.atomic
def article_publish(*, article: Article, language: str, by: UserLike) -> ArticleTranslation:
    return _set_status(article, language, by, ArticleStatus.PUBLISHED)


@transaction.atomic
def article_unpublish(*, article: Article, language: str, by: UserLike) -> ArticleTranslation:
    return _set_status(article, language, by, ArticleStatus.DRAFT)


@transaction.atomic
def article_delete(*, article: Article, by: UserLike) -> None:
    """Drafts-only articles may be deleted by their writers; anything published needs a publisher."""
    principal = principal_for(by)
    _require(policy.can_write_drafts(principal), _("Only agents write articles."))
    if _has_published_version(article):
        _require(policy.can_publish(principal), _("Only team leads and admins delete published articles."))
    article.delete()


# --- Visitors: views, votes, deflections ---------------------------------------------------------


def article_record_view(*, article_id: int) -> None:
    """One more view: a single UPDATE ... SET view_count = view_count + 1 (no read, no lock held)."""
    Article.objects.filter(pk=article_id).update(view_count=F("view_count") + 1)


@dataclass(frozen=True)
class VoteResult:
    vote: ArticleVote
    changed: bool  # False when the visitor repeated the same answer


def _voter_filter(user: UserLike, session_key: str) -> dict[str, object]:
    if user is not None and user.is_authenticated:
        return {"user": user}
    if not session_key:
        raise KnowledgeError(_("Your browser must accept cookies to vote."))
    return {"user": None, "session_key": session_key}


@transaction.atomic
def article_vote(
    *, article: Article, language: str, helpful: bool, user: UserLike = None, session_key: str = ""
) -> VoteResult:
    """Record "was this helpful": one vote per visitor (user, else session). Voting again with the
    other answer changes the vote; the same answer again changes nothing. The counts on the
    article follow in the same transaction.
    """
    voter = _voter_filter(user, session_key)
    language = _clean_language(language)
    existing = ArticleVote.objects.select_for_update().filter(article=article, **voter).first()
    if existing is None:
        try:
            with transaction.atomic():
                vote = ArticleVote.objects.create(article=article, language=language, helpful=helpful, **voter)
        except IntegrityError:
            # Two clicks at once: the other request won; treat this one as a repeat of it.
            existing = ArticleVote.objects.select_for_update().get(article=article, **voter)
        else:
            counter = "helpful_yes" if helpful else "helpful_no"
            Article.objects.filter(pk=article.pk).update(**{counter: F(counter) + 1})
            return VoteResult(vote=vote, changed=True)
    if existing.helpful == helpful:
        return VoteResult(vote=existing, changed=False)
    existing.helpful = helpful
    existing.language = language
    existing.save(update_fields=["helpful", "language", "updated_at"])
    if helpful:
        Article.objects.filter(pk=article.pk).update(helpful_yes=F("helpful_yes") + 1, helpful_no=F("helpful_no") - 1)
    else:
        Article.objects.filter(pk=article.pk).update(helpful_yes=F("helpful_yes") - 1, helpful_no=F("helpful_no") + 1)
    return VoteResult(vote=existing, changed=True)


@transaction.atomic
def deflection_record(
    *, article: Article, language: str, subject: str, contact: Contact | None = None, session_key: str = ""
) -> Deflection:
    """The visitor left the new-ticket form with this article instead of submitting a ticket."""
    subject = " ".join("".join(ch if ch.isprintable() else " " for ch in (subject or "")).split())[:SUBJECT_MAX]
    return Deflection.objects.create(
        article=article,
        language=language if language in Language.values else "",
        contact=contact,
        session_key=session_key if contact is None else "",
        subject=subject,
    )
