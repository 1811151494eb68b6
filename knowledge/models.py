"""Knowledge base: categories, articles with one version per language, votes, views, deflections.

An :class:`Article` is the language-independent entry (category, visibility, counters); each
:class:`ArticleTranslation` is one language's version with its own title, slug, Markdown body and
draft/published state. Writes go through ``knowledge.services``; reads through ``knowledge.selectors``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from knowledge.choices import ArticleStatus, Language, Visibility


class Category(models.Model):
    """A group of articles. Named in English; the German name and description are optional."""

    name = models.CharField(_("name"), max_length=120)
    name_de = models.CharField(_("name (German)"), max_length=120, blank=True)
    description = models.TextField(_("description"), blank=True)
    description_de = models.TextField(_("description (German)"), blank=True)
    slug = models.SlugField(_("slug"), max_length=120, unique=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "name", "id"]
        verbose_name = _("knowledge base category")
        verbose_name_plural = _("knowledge base categories")

    def __str__(self) -> str:
        return self.name

    def name_in(self, language: str) -> str:
        return (self.name_de if language == Language.DE else "") or self.name

    def description_in(self, language: str) -> str:
        return (self.description_de if language == Language.DE else "") or self.description


class Article(models.Model):
    """The entry shared by the language versions: where it is filed, who may read it, its counters."""

    category = models.ForeignKey(
        Category,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="articles",
        verbose_name=_("category"),
        db_index=False,  # led by kb_article_category
    )
    visibility = models.CharField(_("visibility"), max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Counters, changed with F() updates only (knowledge.services).
    view_count = models.PositiveBigIntegerField(_("views"), default=0)
    helpful_yes = models.PositiveIntegerField(_("helpful"), default=0)
    helpful_no = models.PositiveIntegerField(_("not helpful"), default=0)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("knowledge base article")
        verbose_name_plural = _("knowledge base articles")
        indexes = [
            models.Index(fields=["-view_count", "id"], name="kb_article_most_viewed"),
            models.Index(fields=["category", "visibility"], name="kb_article_category"),
        ]

    def __str__(self) -> str:
        return f"KB-{self.pk}"


class ArticleTranslation(models.Model):
    """One language's version of an article."""

    # Indexed by the unique (article, language) constraint.
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="translations", db_index=False)
    language = models.CharField(_("language"), max_length=5, choices=Language.choices)
    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=200, db_index=False)  # URLs find versions by article id
    body = models.TextField(_("body (Markdown)"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)

    class Meta:
        ordering = ["article_id", "language"]
        verbose_name = _("article version")
        verbose_name_plural = _("article versions")
        constraints = [
            models.UniqueConstraint(fields=["article", "language"], name="kb_one_version_per_language"),
            models.CheckConstraint(
                condition=Q(status=ArticleStatus.DRAFT) | Q(published_at__isnull=False),
                name="kb_published_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "language", "title"], name="kb_version_listing"),
            models.Index(fields=["language", "-updated_at"], name="kb_version_recent"),
        ]
        # Full-text search: GIN expression indexes per language, PostgreSQL only (migration 0002).

    def __str__(self) -> str:
        return f"{self.title} ({self.language})"

    @property
    def is_published(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED


class ArticleVote(models.Model):
    """ "Was this helpful?": one vote per visitor and article (a signed-in user, else a session)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="votes")
    language = models.CharField(max_length=5, choices=Language.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    session_key = models.CharField(max_length=64, blank=True)
    helpful = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["article", "user"], condition=Q(user__isnull=False), name="kb_vote_once_per_user"
            ),
            models.UniqueConstraint(
                fields=["article", "session_key"],
                condition=Q(user__isnull=True) & ~Q(session_key=""),
                name="kb_vote_once_per_session",
            ),
            models.CheckConstraint(condition=Q(user__isnull=False) | ~Q(session_key=""), name="kb_vote_has_voter"),
        ]

    def __str__(self) -> str:
        return f"{self.article_id}: {'yes' if self.helpful else 'no'}"


class Deflection(models.Model):
    """A customer who was about to open a ticket and left with an article instead."""

    article = models.ForeignKey(
        Article, null=True, on_delete=models.SET_NULL, related_name="deflections", db_index=False
    )  # led by kb_deflection_article
    language = models.CharField(max_length=5, choices=Language.choices, blank=True)
    contact = models.ForeignKey("accounts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    session_key = models.CharField(max_length=64, blank=True)
    subject = models.CharField(_("subject typed"), max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("deflection")
        verbose_name_plural = _("deflections")
        indexes = [
            models.Index(fields=["created_at"], name="kb_deflection_created"),
            models.Index(fields=["article", "created_at"], name="kb_deflection_article"),
        ]

    def __str__(self) -> str:
        return f"{self.article_id}: {self.subject}"
