"""Text from mail, rules and users is inert in Markdown: checked with a real CommonMark renderer."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from mailwarden.reports import md, md_code

HOSTILE = [
    "[Approve](https://evil.example/approve)",
    "![x](https://evil.example/pixel.png)",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "**urgent** _now_ ~~old~~",
    "`code` and ``more``",
    "&lt;b&gt; entity",
    "a | b | c",
    "line one\n# heading\n- list",
    "https://evil.example/bare",
    "[ref]: https://evil.example",
    "\u202eevil-rtl\u200b",
]


def _render(text: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(text)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_text_renders_as_plain_text_in_a_line(value: str) -> None:
    html = _render(f"- rule: {md(value)}")
    assert "<a " not in html and "<img" not in html and "<script" not in html
    assert "<strong>" not in html and "<em>" not in html and "<code>" not in html
    assert "<h1>" not in html and html.count("<li>") == 1
    assert "\u202e" not in html and "\u200b" not in html


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_text_keeps_a_table_row_in_one_piece(value: str) -> None:
    html = _render(f"| name | risk |\n|---|---|\n| {md(value)} | high |")
    assert html.count("<td>") == 2 and "<a " not in html and "<img" not in html


def test_inline_code_shows_the_value_verbatim() -> None:
    html = _render(md_code("a `tick` <b>"))
    assert "<code>a `tick` &lt;b&gt;</code>" in html


def test_ordinary_text_reads_as_it_is_and_long_text_is_cut() -> None:
    assert md("Quarterly report (draft) - v2.pdf") == "Quarterly report (draft) - v2.pdf"
    assert len(md("x" * 5000)) == 500
