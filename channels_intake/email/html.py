"""HTML from email: sanitising for display, and conversion to readable plain text.

Pure functions: no Django, no I/O. ``sanitize_html`` relies on nh3 (the Ammonia sanitiser); remote
images are never loaded: their address is moved to ``data-remote-src`` so the agent's browser shows
nothing until the agent asks for it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

__all__ = ["html_to_text", "sanitize_html"]

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p", "pre", "s", "small",
        "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u",
        "ul",
    }
)  # fmt: skip
# Tags removed together with everything inside them.
_DROPPED_WITH_CONTENT: frozenset[str] = frozenset(
    {
        "applet", "embed", "frameset", "iframe", "math", "noembed", "noframes", "noscript", "object",
        "script", "select", "style", "svg", "template", "textarea", "title", "xmp",
    }
)  # fmt: skip
_CELL_ATTRIBUTES = {"colspan", "rowspan", "align", "valign"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "dir"},
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": _CELL_ATTRIBUTES,
    "th": _CELL_ATTRIBUTES,
    "ol": {"start", "type"},
}
# CSS properties kept in style attributes (no position, display, z-index, backgrounds with images ...).
ALLOWED_CSS_PROPERTIES: frozenset[str] = frozenset(
    {
        "background-color", "border", "border-collapse", "border-color", "border-style", "border-width",
        "color", "font-family", "font-size", "font-style", "font-weight", "height", "line-height", "margin",
        "margin-bottom", "margin-left", "margin-right", "margin-top", "padding", "padding-bottom",
        "padding-left", "padding-right", "padding-top", "text-align", "text-decoration", "vertical-align",
        "white-space", "width",
    }
)  # fmt: skip
LINK_REL = "noopener noreferrer nofollow"

_UNSAFE_CSS = re.compile(r"url\s*\(|expression|javascript:|@import|behavior|\\|<", re.IGNORECASE)
_INLINE_IMAGE_SRC = re.compile(r"cid:\S+|data:image/(?:png|gif|jpeg|webp);base64,[A-Za-z0-9+/=\s]*", re.IGNORECASE)
_REMOTE_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_SAFE_HREF = re.compile(r"(?:https?|mailto|tel):", re.IGNORECASE)
# nh3's serialiser always writes attributes as name="value" and escapes " and > inside values,
# so these patterns over its output cannot be fooled by attribute contents.
_IMG_TAG = re.compile(r"<img\b[^>]*>")
_REMOTE_SRC_ATTR = re.compile(r'\ssrc="(https?://[^"]*)"', re.IGNORECASE)


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Decide per attribute (nh3 callback); ``None`` removes it."""
    stripped = value.strip()
    if attribute == "style":
        return None if _UNSAFE_CSS.search(value) else value
    if tag == "img" and attribute == "src":
        if _INLINE_IMAGE_SRC.fullmatch(stripped) or _REMOTE_URL.fullmatch(stripped):
            return stripped
        return None
    if tag == "a" and attribute == "href":
        return stripped if _SAFE_HREF.match(stripped) else None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(_DROPPED_WITH_CONTENT),
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    link_rel=LINK_REL,
    url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
    url_relative="deny",
    filter_style_properties=set(ALLOWED_CSS_PROPERTIES),
    strip_comments=True,
)


# For text conversion: the same tree, links with their targets, nothing else. Running the stdlib
# parser only on nh3's well-formed output keeps it linear (it is quadratic on some unclosed constructs).
_TEXT_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS) - {"img"},
    clean_content_tags=set(_DROPPED_WITH_CONTENT),
    attributes={"a": {"href"}},
    link_rel=None,
    url_schemes={"http", "https", "mailto", "ftp", "tel"},
    strip_comments=True,
)

# html5ever (inside nh3) slows down quadratically with nesting depth; mail with thousands of nested
# elements is flattened first (block tags become line breaks, other tags go) and then sanitised.
_MAX_NESTING = 2000
_NESTING_CHECK_FROM = 2000  # tags; below that the depth cannot exceed the limit
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^<>]*>")
_NON_NESTING = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
        "wbr", "p", "li", "td", "th", "tr", "option", "dt", "dd",
    }
)  # fmt: skip
_FLATTENED_BLOCKS = frozenset(
    {"div", "p", "br", "li", "tr", "table", "ul", "ol", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr"}
)


def _nesting_depth(html: str) -> int:
    depth = deepest = 0
    for match in _TAG.finditer(html):
        name = match.group(2).lower()
        if name in _NON_NESTING:
            continue
        depth = max(depth - 1, 0) if match.group(1) else depth + 1
        deepest = max(deepest, depth)
    return deepest


def _flatten_tag(match: re.Match[str]) -> str:
    return "<br>" if match.group(2).lower() in _FLATTENED_BLOCKS else ""


def _bounded(html: str) -> str:
    if html.count("<") < _NESTING_CHECK_FROM or _nesting_depth(html) <= _MAX_NESTING:
        return html
    return _TAG.sub(_flatten_tag, html)


def _defer_remote_image(match: re.Match[str]) -> str:
    return _REMOTE_SRC_ATTR.sub(r' data-remote-src="\1"', match.group(0))


def sanitize_html(html: str) -> str:
    """Return ``html`` reduced to safe formatting; remote images keep their address only in data-remote-src."""
    if not html or not html.strip():
        return ""
    cleaned = _CLEANER.clean(_bounded(html))
    return _IMG_TAG.sub(_defer_remote_image, cleaned)


# --------------------------------------------------------------------------------------------------
# HTML -> text

_SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript", "svg", "object", "iframe"})
_PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "ul", "ol", "dl", "hr", "blockquote", "address"}
)
_LINE_TAGS = frozenset(
    {
        "div", "li", "tr", "dt", "dd", "section", "article", "header", "footer", "nav", "aside", "main",
        "form", "fieldset", "figure", "figcaption", "center", "caption", "tbody", "thead", "tfoot",
        "body", "html",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})
_SPACES = re.compile(r"[ \t\n\r\f\v\u00a0\u200b]+")
_MAX_LINK_TARGET = 300
_MAX_MARKED_DEPTH = 8  # quote markers / list indentation stop growing here


class _TextConverter(HTMLParser):
    """Streaming HTML -> text: collects inline text, flushes it as lines at block boundaries."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._inline: list[str] = []
        self._skip: list[str] = []
        self._quote_depth = 0
        self._pre_depth = 0
        self._lists: list[list[int]] = []  # [ordered (0/1), counter]
        self._bullet = ""
        self._want_blank = False
        self._blank_depth = 0
        self._links: list[tuple[str, int]] = []

    # -- output -----------------------------------------------------------------------------------
    def _prefix(self) -> str:
        return "> " * min(self._quote_depth, _MAX_MARKED_DEPTH)

    def _emit(self, line: str) -> None:
        if self._want_blank and self.lines and self.lines[-1].strip(" >"):
            self.lines.append("> " * min(self._blank_depth, self._quote_depth, _MAX_MARKED_DEPTH))
        self._want_blank = False
        self.lines.append(self._prefix() + line)

    def _flush(self) -> None:
        text = "".join(self._inline)
        self._inline = []
        if self._pre_depth:
            rows = text.split("\n")
        else:
            rows = [_SPACES.sub(" ", row).strip() for row in text.split("\n")]
        filled = [index for index in (0, len(rows) - 1) if rows[index].strip()]
        if len(filled) < 2:  # trim blank rows at both ends without quadratic pops
            kept = [index for index, row in enumerate(rows) if row.strip()]
            if not kept:
                return
            rows = rows[kept[0] : kept[-1] + 1]
        indent = " " * len(self._bullet)
        for number, row in enumerate(rows):
            self._emit((self._bullet if number == 0 else indent) + row if self._bullet else row)
        self._bullet = ""

    def _block(self, *, blank: bool) -> None:
        self._flush()
        if blank:
            self._request_blank()

    def _request_blank(self) -> None:
        self._blank_depth = self._quote_depth if not self._want_blank else min(self._blank_depth, self._quote_depth)
        self._want_blank = True

    # -- parser callbacks -------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip.append(tag)
        elif not self._skip:
            self._open(tag, dict(attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._skip and tag not in _SKIPPED:
            self._open(tag, dict(attrs))
            if tag not in {"br", "hr", "img"}:
                self._close(tag)

    def _open(self, tag: str, attrs: dict[str, str | None]) -> None:
        if tag == "br":
            self._inline.append("\n")
        elif tag == "hr":
            self._block(blank=True)
            self._emit("---")
            self._request_blank()
        elif tag in _CELL_TAGS:
            if self._inline:
                self._inline.append(" ")
        elif tag in {"ul", "ol"}:
            self._block(blank=not self._lists)
            self._lists.append([int(tag == "ol"), 0])
        elif tag == "li":
            self._open_list_item()
        elif tag == "a":
            self._links.append(((attrs.get("href") or "").strip(), len(self._inline)))
        elif tag in _PARAGRAPH_TAGS or tag in _LINE_TAGS:
            self._block(blank=tag in _PARAGRAPH_TAGS)
            if tag == "blockquote":
                self._quote_depth += 1
            elif tag == "pre":
                self._pre_depth += 1

    def _open_list_item(self) -> None:
        self._block(blank=False)
        depth = min(max(len(self._lists), 1), _MAX_MARKED_DEPTH)
        marker = "- "
        if self._lists and self._lists[-1][0]:
            self._lists[-1][1] += 1
            marker = f"{self._lists[-1][1]}. "
        self._bullet = "  " * (depth - 1) + marker

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
        else:
            self._close(tag)

    def _close(self, tag: str) -> None:
        if tag == "a":
            self._close_link()
        elif tag in {"ul", "ol"}:
            self._block(blank=len(self._lists) <= 1)
            if self._lists:
                self._lists.pop()
        elif tag in _PARAGRAPH_TAGS or tag in _LINE_TAGS:
            self._block(blank=tag in _PARAGRAPH_TAGS)
            if tag == "blockquote" and self._quote_depth:
                self._quote_depth -= 1
            elif tag == "pre" and self._pre_depth:
                self._pre_depth -= 1

    def _close_link(self) -> None:
        if not self._links:
            return
        href, start = self._links.pop()
        label = _SPACES.sub(" ", "".join(self._inline[start:])).strip()
        if not label or not href or len(href) > _MAX_LINK_TARGET:
            return
        if not re.match(r"(?i)(https?|ftp|mailto):", href):
            return
        bare = href[7:] if href.lower().startswith("mailto:") else href
        if bare.rstrip("/") in {label.rstrip("/"), "http://" + label.rstrip("/"), "https://" + label.rstrip("/")}:
            return
        self._inline.append(f" ({bare})")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self._inline.append(data if self._pre_depth else _SPACES.sub(" ", data))

    def close(self) -> None:
        super().close()
        self._flush()


def html_to_text(html: str) -> str:
    """Readable plain text for an HTML body (links as "text (url)", lists as "- ", quotes as "> ")."""
    if not html:
        return ""
    converter = _TextConverter()
    converter.feed(_TEXT_CLEANER.clean(_bounded(html)))
    converter.close()
    text = "\n".join(line.rstrip() for line in converter.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")
