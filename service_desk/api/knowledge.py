"""Knowledge base articles under /api/v1/kb-articles/ (read-only), as the portal shows them.

Each row is one published language version of an article. Anonymous callers and customers read
published public articles; agents also read internal ones (``knowledge.selectors`` decides). Lives
here rather than in ``knowledge/api/`` because the knowledge app was being built at the same time.
"""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from knowledge import selectors
from knowledge.choices import Language
from knowledge.models import ArticleTranslation
from service_desk.api.base import ApiReadOnlyViewSet
from tickets.api.filters import IdFilter

SEARCH_LIMIT = 50


class KbCategorySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()


class KbArticleSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The id of this language version.")
    article = serializers.IntegerField(source="article_id", help_text="The article (its languages share it).")
    language = serializers.CharField()
    title = serializers.CharField()
    slug = serializers.CharField()
    excerpt = serializers.SerializerMethodField()
    category = serializers.SerializerMethodField()
    visibility = serializers.CharField(source="article.visibility")
    published_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()
    portal_url = serializers.SerializerMethodField()

    def get_excerpt(self, obj: ArticleTranslation) -> str:
        return selectors.article_excerpt(obj)

    @extend_schema_field(KbCategorySerializer(allow_null=True))
    def get_category(self, obj: ArticleTranslation) -> dict | None:
        category = obj.article.category
        return None if category is None else {"id": category.pk, "name": category.name, "slug": category.slug}

    def get_portal_url(self, obj: ArticleTranslation) -> str:
        return selectors.article_portal_url(obj)


class KbArticleDetailSerializer(KbArticleSerializer):
    body = serializers.CharField(help_text="The article in Markdown.")
    html = serializers.SerializerMethodField(help_text="The article rendered and sanitised.")

    def get_html(self, obj: ArticleTranslation) -> str:
        return str(selectors.article_html(obj))


class KbArticleFilterSet(django_filters.FilterSet):
    language = django_filters.ChoiceFilter(choices=Language.choices)
    category = IdFilter(field_name="article__category_id", label=_("Category id"))
    search = django_filters.CharFilter(
        method="filter_search", max_length=200, label=_("Words to look for (the 50 best matches)")
    )

    class Meta:
        model = ArticleTranslation
        fields: list[str] = []

    def filter_search(self, queryset, name: str, value: str):  # noqa: ANN001, ANN201
        if not value.strip():
            return queryset
        language = self.data.get("language") or Language.EN
        if language not in Language.values:
            language = Language.EN
        request = getattr(self, "request", None)
        found = selectors.search_articles(getattr(request, "user", None), value, language, limit=SEARCH_LIMIT)
        return queryset.filter(pk__in=[version.pk for version in found])


@extend_schema_view(
    list=extend_schema(summary="List published knowledge base articles (public ones for customers and anonymous)"),
    retrieve=extend_schema(summary="Get a knowledge base article with its text", responses=KbArticleDetailSerializer),
)
class KbArticleViewSet(ApiReadOnlyViewSet):
    permission_classes = [AllowAny]
    filterset_class = KbArticleFilterSet
    keyset_ordering = ("id",)

    def get_serializer_class(self):  # noqa: ANN201
        return KbArticleDetailSerializer if self.action == "retrieve" else KbArticleSerializer

    def get_queryset(self):  # noqa: ANN201
        return selectors.portal_versions_visible_to(self.request.user)


def register(router) -> None:  # noqa: ANN001
    router.register("kb-articles", KbArticleViewSet, basename="kb-article")
