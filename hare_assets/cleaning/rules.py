"""D1 heuristic cleaning rules (pure code, no Dagster).

Every rule is a small named unit (datatrove's PipelineStep style); this module is their registry:

* edit rules (`normalize`, `scrub_pii`, `remove_links`) rewrite the text and count what they changed;
* drop rules (`oversized`, `too_short`, `too_long`, `non_alpha`, `duplicate_lines`,
  `duplicate_paragraphs`, `boilerplate`, `incomplete_ending`, `not_english`) read *signals* measured on the edited text; the rule name is
  the rejection reason.

Scores once, thresholds after (dolma's tagger / mixer split): `score_batch` edits the texts and
measures every signal of the document's kind (prose, math, code) without looking at a threshold;
`failing_rule(signals, rules, cfg)` applies the config's thresholds to stored signals. Only the
category -> kind mapping and the processing cap `max_scored_chars` shape the signals.

Order: normalize -> scrub_pii -> remove_links -> quality checks -> language. Per-category rule sets:
code categories skip `non_alpha`, `boilerplate`, `incomplete_ending` and language ID; math categories skip
`non_alpha`, accept LaTeX-style endings (`$`, `}`, digits) as complete, and run language ID on the
text with its LaTeX taken out. All categories get PII and link scrubbing.

The edit rules live in normalize.py, pii.py and links.py, the signals the drop rules read in
measures.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hare_assets.cleaning.links import remove_links
from hare_assets.cleaning.measures import (
    MATH_TERMINAL,
    TERMINAL_PUNCTUATION,
    boilerplate_fraction,
    detect_language,
    duplicate_line_fraction,
    duplicate_paragraph_fraction,
    ends_complete,
    language_view,
    non_alpha_fraction,
    word_count,
)
from hare_assets.cleaning.normalize import normalize, tidy_spaces
from hare_assets.cleaning.pii import scrub_pii
from hare_assets.core.settings import Cleaning

Signals = dict[str, "float | int | bool | str | None"]


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
        text = tidy_spaces(text)
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
