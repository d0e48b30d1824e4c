"""The `normalize` edit rule: Unicode (NFC, surrogates), control characters, line breaks and
whitespace (pure code)."""

from __future__ import annotations

import re
import unicodedata

_NEWLINES = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# C0/C1 controls except \t (\x09) and \n (\x0a), plus BOM and zero-width space.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff\u200b]+")
_UNICODE_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_TRAILING = re.compile(r"[ \t]+$", re.M)
# Runs of spaces after the first non-space character of a line (leading indentation is kept: code).
_SPACE_RUNS = re.compile(r"(?<=[^\s]) {2,}")
_BLANK_RUNS = re.compile(r"\n{4,}")  # more than two blank lines


def normalize(text: str) -> tuple[str, dict[str, int]]:
    """NFC, control characters removed (\\n and \\t kept; \\r and other line breaks become \\n),
    runs of spaces collapsed (indentation kept), trailing spaces stripped, more than two blank
    lines collapsed to two, leading blank lines and trailing whitespace removed. Surrogate code
    points (a str from broken JSON escapes; not encodable as UTF-8) become one character: a pair
    its code point, a lone one U+FFFD."""
    out = text
    if not out.isascii() and _SURROGATES.search(out):
        out = out.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if not out.isascii() and not unicodedata.is_normalized("NFC", out):
        out = unicodedata.normalize("NFC", out)
    if "\r" in out:
        out = out.replace("\r\n", "\n")
    # Controls, Unicode spaces and line separators are all non-printable: one C-speed check.
    if not out.replace("\n", "").replace("\t", "").isprintable():
        out = _NEWLINES.sub("\n", out)
        out = _CONTROL.sub("", out)
        out = _UNICODE_SPACES.sub(" ", out)
    out = tidy_spaces(out)
    return out, ({"normalize": 1} if out != text else {})


def tidy_spaces(text: str) -> str:
    """Trailing spaces stripped, runs of spaces collapsed (indentation kept), more than two blank
    lines made two, leading blank lines and trailing whitespace removed (also run after link removal)."""
    if " \n" in text or "\t\n" in text:
        text = _TRAILING.sub("", text)
    if "  " in text:
        text = _SPACE_RUNS.sub(" ", text)
    if "\n\n\n\n" in text:
        text = _BLANK_RUNS.sub("\n\n\n", text)
    return text.lstrip("\n").rstrip()
