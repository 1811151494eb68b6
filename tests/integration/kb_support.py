"""Building knowledge base content for the tests, through knowledge.services."""

from __future__ import annotations

import itertools

from accounts.choices import AgentRole
from knowledge import services
from knowledge.choices import Visibility
from knowledge.models import ArticleTranslation, Category
from tests import factories

_seq = itertools.count(1)


def publisher():  # noqa: ANN201
    return factories.agent(role=AgentRole.TEAM_LEAD)


def category(by, name: str | None = None, **kwargs: object) -> Category:  # noqa: ANN001
    name = name or f"Category {next(_seq)}"
    return services.category_create(data=services.CategoryInput(name=name, **kwargs), by=by)


def article(
    by,  # noqa: ANN001
    *,
    en: tuple[str, str] | None = None,
    de: tuple[str, str] | None = None,
    publish: tuple[str, ...] = ("en", "de"),
    internal: bool = False,
    category: Category | None = None,
) -> dict[str, ArticleTranslation]:
    """An article with an English and/or German version (title, body); ``publish`` lists the
    languages to publish, the others stay drafts."""
    versions: dict[str, ArticleTranslation] = {}
    visibility = Visibility.INTERNAL if internal else Visibility.PUBLIC
    art = None
    for language, content in (("en", en), ("de", de)):
        if content is None:
            continue
        title, body = content
        data = services.VersionInput(
            language=language, title=title, body=body, category=category, visibility=visibility
        )
        if art is None:
            version = services.article_create(data=data, by=by, publish=language in publish)
            art = version.article
        else:
            version = services.article_update(article=art, data=data, by=by)
            if language in publish:
                version = services.article_publish(article=art, language=language, by=by)
        versions[language] = version
    return versions
