"""Admin for the knowledge base: categories, articles with their language versions, and the
read-only records visitors leave (votes, deflections). Day-to-day writing happens in the agent
workspace (/desk/kb/); the admin is for corrections by administrators.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from knowledge.choices import ArticleStatus
from knowledge.models import Article, ArticleTranslation, ArticleVote, Category, Deflection


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "name_de", "slug", "position")
    list_editable = ("position",)
    search_fields = ("name", "name_de", "slug")
    prepopulated_fields = {"slug": ("name",)}


class ArticleTranslationInline(admin.StackedInline):
    model = ArticleTranslation
    extra = 0
    max_num = 2
    fields = ("language", "title", "slug", "status", "body", "published_at", "author", "updated_at")
    readonly_fields = ("published_at", "author", "updated_at")


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "title",
        "category",
        "visibility",
        "view_count",
        "helpful_yes",
        "helpful_no",
        "updated_at",
    )
    list_filter = ("visibility", "category", "translations__status", "translations__language")
    search_fields = ("translations__title",)
    readonly_fields = ("view_count", "helpful_yes", "helpful_no", "created_by", "created_at", "updated_at")
    inlines = [ArticleTranslationInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Article]:
        return super().get_queryset(request).select_related("category").prefetch_related("translations")

    @admin.display(description="title")
    def title(self, obj: Article) -> str:
        return " / ".join(t.title for t in obj.translations.all())

    def save_model(self, request: HttpRequest, obj: Article, form, change: bool) -> None:  # noqa: ANN001
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:  # noqa: ANN001
        versions = formset.save(commit=False)
        for version in versions:
            if version.status == ArticleStatus.PUBLISHED and version.published_at is None:
                version.published_at = timezone.now()
            elif version.status == ArticleStatus.DRAFT:
                version.published_at = None
            if version.author_id is None:
                version.author = request.user
            version.updated_by = request.user
            version.save()
        for obj in formset.deleted_objects:
            obj.delete()


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ArticleVote)
class ArticleVoteAdmin(_ReadOnly):
    list_display = ("article", "language", "helpful", "user", "created_at")
    list_filter = ("helpful", "language")
    list_select_related = ("article", "user")


@admin.register(Deflection)
class DeflectionAdmin(_ReadOnly):
    list_display = ("created_at", "article", "language", "subject", "contact")
    list_filter = ("language",)
    search_fields = ("subject",)
    list_select_related = ("article", "contact")
    date_hierarchy = "created_at"
