"""Forms of the knowledge base screens (parsing only; the rules are in services and domain)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from knowledge.choices import Language, Visibility
from knowledge.models import Category


class ArticleForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)
    title = forms.CharField(label=_("Title"), max_length=200)
    slug = forms.SlugField(
        label=_("Slug"),
        max_length=200,
        required=False,
        help_text=_("Part of the address; made from the title if empty."),
    )
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.all(), required=False, empty_label=_("(no category)")
    )
    visibility = forms.ChoiceField(
        label=_("Who can read it"),
        choices=Visibility.choices,
        help_text=_("Internal articles are shown to agents only, never in the portal for customers."),
    )
    body = forms.CharField(
        label=_("Article (Markdown)"),
        required=False,
        max_length=200_000,
        widget=forms.Textarea(attrs={"rows": 18, "class": "kb-markdown", "spellcheck": "true"}),
        help_text=_(
            "Markdown: **bold**, *italic*, # headings, - lists, [link](https://…), tables. "
            "HTML is shown as text. Images only from this site."
        ),
    )


class CategoryForm(forms.Form):
    name = forms.CharField(label=_("Name (English)"), max_length=120)
    name_de = forms.CharField(label=_("Name (German)"), max_length=120, required=False)
    slug = forms.SlugField(label=_("Slug"), max_length=120, required=False)
    description = forms.CharField(
        label=_("Description (English)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    description_de = forms.CharField(
        label=_("Description (German)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    position = forms.IntegerField(label=_("Position"), min_value=0, initial=0)
