"""Article bodies: Markdown to safe HTML, and Markdown to plain text for excerpts. Pure, no Django.

Two layers, so one mistake is not enough for an XSS:

1. markdown-it-py with the CommonMark preset and raw HTML **disabled**: ``<script>`` typed into an
   article comes out as text. Its link validator already refuses ``javascript:``, ``vbscript:``,
   ``file:`` and ``data:`` links (those stay literal text).
2. nh3 (ammonia) cleans the result with an allowlist of tags and attributes, allows only
   ``http``, ``https`` and ``mailto`` (and relative) URLs, and sets
   ``rel="noopener noreferrer nofollow"`` on every link.

Images: an article may show an image only from our own site: a path on this host (``/media/kb/x.png``)
or an absolute http(s) URL whose host is one of ``image_hosts`` (the caller passes the host of
``SITE_URL``). Any other image (a remote host, ``data:``, protocol-relative ``//host``) is not
loaded: it is replaced by its alt text, so reading an article never pings a third party.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code", "pre",
        "blockquote", "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}
URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"


def image_allowed(src: str, image_hosts: Collection[str]) -> bool:
    """A path on our own host, or an http(s) URL on one of ``image_hosts``; nothing else."""
    src = src.strip()
    if not src:
        return False
    if src.startswith("/") and not src.startswith("//") and "\\" not in src:
        return True
    try:
        parts = urlsplit(src)
    except ValueError:
        return False
    hosts = {h.lower() for h in image_hosts}
    return parts.scheme in {"http", "https"} and (parts.hostname or "").lower() in hosts


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )


def _render(markdown: str, image_hosts: Collection[str]) -> str:
    md = _parser()
    tokens = md.parse(markdown)
    for token in tokens:
        if token.type == "inline" and token.children:
            token.children = _filter_images(token.children, image_hosts)
    return md.renderer.render(tokens, md.options, {})


def _filter_images(children: list[Token], image_hosts: Collection[str]) -> list[Token]:
    out: list[Token] = []
    for child in children:
        if child.type == "image" and not image_allowed(str(child.attrGet("src") or ""), image_hosts):
            alt = "".join(c.content for c in child.children or [] if c.type in {"text", "code_inline"})
            out.append(Token("text", "", 0, content=f"[{alt}]" if alt else ""))
            continue
        out.append(child)
    return out


def render_markdown(markdown: str, *, image_hosts: Collection[str] = ()) -> str:
    """Markdown (CommonMark, tables, strikethrough) to sanitised HTML; see the module docstring."""
    html = _render(markdown or "", image_hosts)

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src" and not image_allowed(value, image_hosts):
            return None
        return value

    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
        attribute_filter=attribute_filter,
    )


def markdown_to_text(markdown: str, *, limit: int | None = None) -> str:
    """The readable words of a Markdown body (no markup, no URLs), whitespace collapsed.

    Used for excerpts in lists and search results; escaping is left to the template.
    """
    tokens = _parser().parse(markdown or "")
    words: list[str] = []
    for token in tokens:
        if token.type == "inline":
            for child in token.children or []:
                if child.type in {"text", "code_inline"}:
                    words.append(child.content)
                elif child.type in {"softbreak", "hardbreak"}:
                    words.append(" ")
            words.append(" ")
        elif token.type in {"fence", "code_block"}:
            words.append(token.content)
            words.append(" ")
    text = " ".join("".join(words).split())
    if limit is not None and len(text) > limit:
        cut = text[: limit + 1].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
        return cut.rstrip(" ,.;:") + "…"
    return text
