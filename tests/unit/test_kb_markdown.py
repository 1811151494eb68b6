"""Article Markdown is rendered safely: no script, no event handlers, no dangerous URLs, no remote images."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from knowledge.domain.rendering import image_allowed, markdown_to_text, render_markdown

OWN = ("help.lumina.example",)

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)" onclick="alert(2)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](javascript:alert(1))",
    '<svg onload="alert(1)"></svg>',
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
    '[x](https://ok.example "a\\" onmouseover=\\"alert(1)")',
    "<details open ontoggle=alert(1)>",
    "```html\n<script>alert(1)</script>\n```",
    "<!-- <script>alert(1)</script> -->",
]


class _Collector(HTMLParser):
    """The tags and attributes a browser would build from the HTML (text is ignored)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))


def _elements(html: str) -> list[tuple[str, dict[str, str]]]:
    collector = _Collector()
    collector.feed(html)
    return collector.elements


SAFE_TAGS = {"p", "a", "img", "pre", "code", "strong", "em", "br"}


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_payloads_come_out_inert(payload):
    html = render_markdown(payload, image_hosts=OWN)
    for tag, attrs in _elements(html):
        assert tag in SAFE_TAGS, (tag, html)
        assert not [name for name in attrs if name.startswith("on")], html
        assert set(attrs) <= {"href", "src", "alt", "title", "rel"}, html
        for name in ("href", "src"):
            value = attrs.get(name, "").strip().lower()
            if value:
                assert value.startswith(("https://", "http://", "mailto:", "/")), html
                assert not value.startswith("//"), html


def test_raw_html_is_shown_as_text_not_markup():
    assert render_markdown("<b>bold</b>") == "<p>&lt;b&gt;bold&lt;/b&gt;</p>\n"


def test_code_block_keeps_html_as_escaped_text():
    html = render_markdown("```\n<script>alert(1)</script>\n```")
    assert "&lt;script&gt;" in html
    assert "<pre><code>" in html


def test_links_get_rel_noopener_noreferrer_nofollow():
    html = render_markdown("[docs](https://docs.example/page)")
    assert html == ('<p><a href="https://docs.example/page" rel="noopener noreferrer nofollow">docs</a></p>\n')


def test_mailto_and_relative_links_are_kept():
    assert 'href="mailto:help@lumina.example"' in render_markdown("[mail](mailto:help@lumina.example)")
    assert 'href="/portal/"' in render_markdown("[home](/portal/)")


def test_markdown_features_render():
    html = render_markdown("# Title\n\n- **bold** *it* ~~gone~~ `code`\n\n> quote\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    for tag in ("<h1>", "<ul>", "<strong>", "<em>", "<s>", "<code>", "<blockquote>", "<table>", "<td>"):
        assert tag in html


def test_images_from_our_own_site_are_shown():
    assert '<img src="/media/kb/hub.png" alt="hub">' in render_markdown("![hub](/media/kb/hub.png)", image_hosts=OWN)
    assert 'src="https://help.lumina.example/x.png"' in render_markdown(
        "![x](https://help.lumina.example/x.png)", image_hosts=OWN
    )


@pytest.mark.parametrize(
    "src",
    [
        "https://tracker.example/pixel.png",
        "http://help.lumina.example.evil.example/x.png",
        "//tracker.example/pixel.png",
        "data:image/png;base64,iVBORw0KGgo=",
    ],
)
def test_remote_images_are_not_loaded_but_alt_text_stays(src):
    html = render_markdown(f"![diagram]({src})", image_hosts=OWN)
    assert "<img" not in html
    assert "[diagram]" in html


def test_image_allowed_rules():
    assert image_allowed("/media/a.png", OWN)
    assert image_allowed("https://HELP.lumina.example/a.png", OWN)
    assert not image_allowed("", OWN)
    assert not image_allowed("//help.lumina.example/a.png", OWN)
    assert not image_allowed("ftp://help.lumina.example/a.png", OWN)
    assert not image_allowed("https://other.example/a.png", OWN)


def test_markdown_to_text_strips_markup_and_urls():
    text = markdown_to_text("# Wi-Fi\n\nHold the **button** for [5 seconds](https://x.example).\n\n```\ncode\n```")
    assert text == "Wi-Fi Hold the button for 5 seconds. code"


def test_markdown_to_text_cuts_at_a_word():
    text = markdown_to_text("one two three four five six", limit=12)
    assert text == "one two…"


def test_empty_body():
    assert render_markdown("") == ""
    assert markdown_to_text("") == ""


def test_a_backslash_path_cannot_become_a_protocol_relative_image():
    html = render_markdown("![x](/\\\\tracker.example/p.png)", image_hosts=OWN)
    for tag, attrs in _elements(html):
        if tag == "img":
            assert not attrs["src"].startswith(("//", "/\\")), html
