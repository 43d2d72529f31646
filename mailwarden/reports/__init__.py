"""Text for operators' eyes: escaping what came from mail, rules or users before it lands in
Markdown (Prefect artifacts, approval forms, notifications).

A rule named ``[Approve](https://evil)`` or a subject ``<img src=x onerror=...>`` must show as
that text, not as a link, an image or markup. :func:`md` escapes every character Markdown or
HTML would act on (``|`` included, so a table row stays in one piece) and folds line breaks;
:func:`md_code` shows a value verbatim in inline code.
"""

from __future__ import annotations

import re

__all__ = ["md", "md_code"]

_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~:&])")
"""What Markdown or HTML acts on mid-line: emphasis, code, links and images (no ``[``, so no ``](``),
HTML and entities, table pipes, strike-through, and ``:`` so that a bare ``https://...`` is not
turned into a link."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
MAX_LEN = 500


def _clean(value: object, limit: int) -> str:
    text = "" if value is None else str(value)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ").replace("\t", " "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def md(value: object, limit: int = MAX_LEN) -> str:
    """``value`` as inert Markdown text on one line (no links, emphasis, HTML or headings)."""
    return _SPECIAL.sub(r"\\\1", _clean(value, limit))


def md_code(value: object, limit: int = MAX_LEN) -> str:
    """``value`` verbatim in inline code, fenced with more backticks than it contains."""
    text = _clean(value, limit)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"
