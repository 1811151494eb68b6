from django.db import models
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    EN = "en", _("English")
    DE = "de", _("German")


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")


class Visibility(models.TextChoices):
    PUBLIC = "public", _("Public")
    INTERNAL = "internal", _("Internal (agents only)")


# The PostgreSQL text search configuration of each language (stemming and stop words).
SEARCH_CONFIG = {Language.EN.value: "english", Language.DE.value: "german"}
