"""Text from containers (names, labels, log lines, exec commands) made harmless for output.

Anyone who can start a container chooses these strings. A terminal obeys the escape sequences
in them (clear the screen, set the title, hide a link behind OSC 8), CR and backspace overwrite
what was printed, bidi controls reorder it, and a Markdown viewer renders HTML in them. Every
renderer of text, CSV and Markdown passes such strings through `visible` or `markdown`; HTML
outputs use html.escape; JSON escapes C0 by itself, and `json_text` the rest.
"""

from __future__ import annotations

import html
import re

# C0 and C1 controls and DEL, shown the way Python spells them (`\x1b`), plus the characters that
# reorder or break lines without being controls (bidi embeddings/overrides/isolates, LS, PS).
_UNSEEN = [*range(0x00, 0x20), *range(0x7F, 0xA0)]
_REORDERING = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_BREAKING = [0x2028, 0x2029]

_VISIBLE = {c: f"\\x{c:02x}" for c in _UNSEEN}
# What JSON leaves raw (it must escape only C0): C1, DEL and the reordering and breaking ones.
_JSON = {c: f"\\u{c:04x}" for c in [*range(0x7F, 0xA0), *_REORDERING, *_BREAKING]}
_VISIBLE.update({c: f"\\u{c:04x}" for c in _REORDERING + _BREAKING})

# Markdown: backslash-escape what makes emphasis, code, links (`]` suffices, and leaves `\x1b[2J`
# readable) or table cells; callers never put this text at the start of a line, where `#` would
# matter. HTML's own characters become entities: no tag, comment or entity survives as markup.
_MARKDOWN = dict(_VISIBLE)
_MARKDOWN.update({ord(c): "\\" + c for c in "\\`*_]|~"})
_MARKDOWN.update({ord("<"): "&lt;", ord(">"): "&gt;", ord("&"): "&amp;"})


def visible(text: object) -> str:
    """`text` with every control, bidi and line-breaking character written as an escape."""
    return str(text).translate(_VISIBLE)


def markdown(text: object) -> str:
    """`text` as literal Markdown inline text (also inside a table cell)."""
    return str(text).translate(_MARKDOWN)


def chart_label(text: object) -> str:
    """`text` for a matplotlib label: visible, and `$` escaped so it never parses as mathtext
    (a label like `$\\frac` would fail the whole figure)."""
    return visible(text).replace("$", "\\$")


def json_text(text: str) -> str:
    """A JSON document with the characters JSON leaves raw written as `\\uXXXX` escapes: the
    same data for a parser, plain text for a terminal. They can only stand inside strings."""
    if text.isascii() and "\x7f" not in text:  # nothing to escape: no copy of a 100 MB report
        return text
    return text.translate(_JSON)


# Names up to this long stay on one line in an HTML table; longer ones may break after a
# separator. A browser breaks after any hyphen: `payments-api` came out as `payments-` / `api`.
NAME_ONE_LINE_CHARS = 32
_SEPARATOR = re.compile(r"([-_./:@])")


def html_name(name: object) -> str:
    """A container, service, image or host name as escaped HTML: on one line, or if long,
    breakable only after `-`, `_`, `.`, `/`, `:` or `@` (CSS: `.name`, `.long-name`)."""
    text = str(name)
    if len(text) <= NAME_ONE_LINE_CHARS:
        return f'<span class="name">{html.escape(text)}</span>'
    parts = _SEPARATOR.split(text)  # separators at odd indices
    marked = "".join(html.escape(p) + ("<wbr>" if i % 2 else "") for i, p in enumerate(parts))
    return f'<span class="long-name">{marked}</span>'


# What html_name's classes need: a long name with no separator still wraps rather than widen
# the page past the screen, and a table squeezed for room breaks it into lines of 30
# characters or more, not at every separator.
NAME_CSS = (
    ".name{white-space:nowrap}.long-name{white-space:normal;overflow-wrap:break-word;"
    "display:inline-block;min-width:30ch}"  # two lines, not one per separator
)
