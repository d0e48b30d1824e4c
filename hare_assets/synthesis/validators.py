"""Parse and validate a generated D3 task output: one parser per task, `validate` dispatches.

    ok, parsed, reason = validate("multiple_choice", generation_text)
    if ok:
        text = format_sample("multiple_choice", parsed)     # rendering.py

Every validator returns a `Validation(ok, parsed or None, reason)`; `reason` is "ok" or a short
snake_case rejection reason, so the rejection table per reason comes for free. Tasks that need the
source document (summarization, title generation, keyword extraction) take it as `source`, and their
parsed sample includes it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, NamedTuple

from hare_assets.synthesis.prompts import D3_TASKS, templates_for
from hare_assets.synthesis.rendering import Parsed

OK = "ok"


class Validation(NamedTuple):
    """What a validator says about one generation: `parsed` is None and `reason` why, unless `ok`."""

    ok: bool
    parsed: Parsed | None
    reason: str


_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.S)
_BLANK = re.compile(r"_{3,}")
_PLACEHOLDER = re.compile(r"^<[^<>]{1,40}>$")
_LETTER_PREFIX = re.compile(r"^\(?([A-Da-d])[).:]\s+")
_LETTER_ONLY = re.compile(r"^\(?([A-Da-d])\)?[.:]?$")


def _reject(reason: str) -> Validation:
    return Validation(False, None, reason)


def _accept(parsed: Parsed) -> Validation:
    return Validation(True, parsed, OK)


def _clean(text: str) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    m = _FENCE.match(text)
    return m.group(1).strip() if m else text


def _strip_md(value: str) -> str:
    value = value.strip()
    while len(value) >= 2 and value[0] == value[-1] and value[0] in "*\"'`":
        value = value[1:-1].strip()
    return value


def _labeled(text: str, labels: dict[str, str]) -> list[tuple[str, str]]:
    """Split text into (canonical label, value) segments at lines starting with a known label.

    `labels` maps an accepted spelling (lower case, e.g. "q") to its canonical name. Markdown bold
    around the label ("**Question:**") is tolerated. Text before the first label is dropped.
    """
    alts = "|".join(sorted((re.escape(k) for k in labels), key=len, reverse=True))
    pat = re.compile(rf"^[ \t]*(?:[-*#>]+[ \t]*)?\**[ \t]*({alts})[ \t]*\**[ \t]*[:：][ \t]*\**", re.I | re.M)
    marks = list(pat.finditer(text))
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out.append((labels[m.group(1).lower()], _strip_md(text[m.end():end].strip())))
    return out


def _is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.match(value.strip()))


def _copied_from_prompt(task: str, value: str) -> bool:
    """True when a generated field is text that already appears in one of the task's prompts."""
    v = " ".join(value.lower().split())
    if len(v) < 12:
        return False
    return any(v in " ".join(t.template.lower().split()) for t in templates_for(task))


# ------------------------------------------------------------------------------------------ parsers


def parse_qa(text: str, source: str | None = None) -> Validation:
    """One or more "Question: ... / Answer: ..." pairs (Q:/A: accepted)."""
    text = _clean(text)
    if not text:
        return _reject("empty")
    segs = _labeled(text, {"question": "q", "q": "q", "answer": "a", "a": "a"})
    if not any(lab == "q" for lab, _ in segs):
        return _reject("no_question")
    pairs, question = [], None
    for lab, value in segs:
        if lab == "q":
            question = value
        elif question is not None:
            pairs.append((question, value))
            question = None
    if not pairs:
        return _reject("no_answer")
    clean = []
    for q, a in pairs:
        if not q:
            return _reject("empty_question")
        if not a:
            return _reject("empty_answer")
        if _is_placeholder(q) or _is_placeholder(a):
            return _reject("placeholder_copied")
        if _copied_from_prompt("qa", q):
            return _reject("copied_from_prompt")
        if " ".join(q.lower().split()) == " ".join(a.lower().split()):
            return _reject("answer_repeats_question")
        clean.append({"question": q, "answer": a})
    return _accept({"pairs": clean})


def _json_object(text: str) -> Any:
    text = _clean(text)
    try:
        return json.loads(text)
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    raise ValueError("no JSON object")


def _norm(s: str) -> str:
    return " ".join(s.strip().rstrip(".").casefold().split())


def parse_multiple_choice(text: str, source: str | None = None) -> Validation:
    """JSON {"question": str, "options": [4 distinct str], "answer": one of the options}.

    Tolerates code fences and text around the object; the answer may be the option text or its
    letter (A-D); "A. " style prefixes on options are removed.
    """
    if not _clean(text):
        return _reject("empty")
    try:
        obj = _json_object(text)
    except ValueError:
        return _reject("not_json")
    if not isinstance(obj, dict):
        return _reject("not_json_object")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        return _reject("missing_question")
    options = obj.get("options", obj.get("choices"))
    if isinstance(options, dict):  # {"A": "...", "B": "..."}
        options = [options[k] for k in sorted(options)]
    if not isinstance(options, list):
        return _reject("missing_options")
    if len(options) != 4:
        return _reject("options_not_4")
    if not all(isinstance(o, (str, int, float)) and not isinstance(o, bool) for o in options):
        return _reject("option_not_text")
    opts = [_LETTER_PREFIX.sub("", str(o).strip()).strip() for o in options]
    if any(not o for o in opts):
        return _reject("empty_option")
    if len({_norm(o) for o in opts}) != 4:
        return _reject("options_not_distinct")
    answer = obj.get("answer")
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        return _reject("missing_answer")
    index = None
    norms = [_norm(o) for o in opts]
    for candidate in (answer, _LETTER_PREFIX.sub("", answer.strip())):
        if _norm(candidate) in norms:
            index = norms.index(_norm(candidate))
            break
    if index is None:
        m = _LETTER_ONLY.match(answer.strip())
        if m:
            index = "abcd".index(m.group(1).lower())
    if index is None:
        return _reject("answer_not_in_options")
    q = question.strip()
    if _is_placeholder(q):
        return _reject("placeholder_copied")
    if _copied_from_prompt("multiple_choice", q):
        return _reject("copied_from_prompt")
    return _accept({"question": q, "options": opts, "answer": opts[index], "answer_index": index})


def parse_cloze(text: str, source: str | None = None) -> Validation:
    """"Text: ... ____ ... / Answer: ..." with exactly one blank (three or more underscores)."""
    text = _clean(text)
    if not text:
        return _reject("empty")
    labels = {"text": "t", "sentence": "t", "passage": "t", "cloze": "t", "question": "t", "answer": "a"}
    segs = _labeled(text, labels)
    body = next((v for lab, v in segs if lab == "t"), None)
    answer = next((v for lab, v in segs if lab == "a"), None)
    if body is None:  # no label before the passage: everything before "Answer:"
        m = re.search(r"^\s*\**answer\**\s*[:：]", text, re.I | re.M)
        body = text[:m.start()].strip() if m else text
    if not _BLANK.search(body):
        return _reject("no_blank")
    if len(_BLANK.findall(body)) > 1:
        return _reject("multiple_blanks")
    if answer is None or not answer.strip():
        return _reject("no_answer")
    answer = answer.splitlines()[0].strip()
    if _BLANK.search(answer):
        return _reject("answer_is_blank")
    if len(answer.split()) > 12:
        return _reject("answer_too_long")
    if _is_placeholder(answer) or _is_placeholder(body):
        return _reject("placeholder_copied")
    if _copied_from_prompt("cloze", body):
        return _reject("copied_from_prompt")
    return _accept({"text": _BLANK.sub("____", body), "answer": answer})


def parse_summarization(text: str, source: str | None = None) -> Validation:
    """A non-empty summary ("Summary:" label optional), shorter than its source document."""
    text = _clean(text)
    segs = _labeled(text, {"summary": "s"})
    summary = segs[0][1] if segs else text
    summary = summary.strip()
    if not summary:
        return _reject("empty")
    if source is None or not source.strip():
        return _reject("no_source")
    if _is_placeholder(summary):
        return _reject("placeholder_copied")
    if len(summary) >= len(source.strip()):
        return _reject("not_shorter_than_source")
    return _accept({"summary": summary, "source": source.strip()})


def parse_true_false(text: str, source: str | None = None) -> Validation:
    """"Statement: ... / Answer: True|False"."""
    text = _clean(text)
    if not text:
        return _reject("empty")
    segs = _labeled(text, {"statement": "s", "claim": "s", "answer": "a"})
    statement = next((v for lab, v in segs if lab == "s"), None)
    answer = next((v for lab, v in segs if lab == "a"), None)
    if not statement:
        return _reject("no_statement")
    if answer is None or not answer.strip():
        return _reject("no_answer")
    word = re.sub(r"[^a-z]", "", answer.strip().split()[0].lower()) if answer.split() else ""
    if word not in ("true", "false"):
        return _reject("answer_not_true_false")
    if _is_placeholder(statement):
        return _reject("placeholder_copied")
    if _copied_from_prompt("true_false", statement):
        return _reject("copied_from_prompt")
    return _accept({"statement": statement, "answer": word == "true"})


def parse_title_generation(text: str, source: str | None = None) -> Validation:
    """"Title: ..." on one line, at most 20 words."""
    text = _clean(text)
    segs = _labeled(text, {"title": "t", "heading": "t"})
    title = segs[0][1] if segs else text
    title = _strip_md(title.strip().splitlines()[0].strip().lstrip("#").strip()) if title.strip() else ""
    if not title:
        return _reject("empty")
    if len(title.split()) > 20:
        return _reject("title_too_long")
    if _is_placeholder(title):
        return _reject("placeholder_copied")
    if source is not None and title.casefold() == source.strip().casefold():
        return _reject("title_is_source")
    parsed: Parsed = {"title": title}
    if source:
        parsed["source"] = source.strip()
    return _accept(parsed)


def parse_keyword_extraction(text: str, source: str | None = None) -> Validation:
    """"Keywords: a, b, c": 3 to 10 distinct keywords of at most 6 words; with a source, at least
    half of them must occur in it."""
    text = _clean(text)
    segs = _labeled(text, {"keywords": "k", "key phrases": "k", "keyphrases": "k", "index entries": "k"})
    body = segs[0][1] if segs else text
    if not body.strip():
        return _reject("empty")
    parts = re.split(r"[,;\n]", body)
    keywords, seen = [], set()
    for p in parts:
        k = _strip_md(re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", p).strip().rstrip("."))
        if k and k.casefold() not in seen:
            seen.add(k.casefold())
            keywords.append(k)
    if any(_is_placeholder(k) for k in keywords):
        return _reject("placeholder_copied")
    if len(keywords) < 3:
        return _reject("too_few_keywords")
    if len(keywords) > 10:
        return _reject("too_many_keywords")
    if any(len(k.split()) > 6 for k in keywords):
        return _reject("keyword_too_long")
    parsed: Parsed = {"keywords": keywords}
    if source:
        low = source.casefold()
        if sum(k.casefold() in low for k in keywords) * 2 < len(keywords):
            return _reject("keywords_not_in_source")
        parsed["source"] = source.strip()
    return _accept(parsed)


VALIDATORS: dict[str, Callable[[str, str | None], Validation]] = {
    "qa": parse_qa,
    "multiple_choice": parse_multiple_choice,
    "cloze": parse_cloze,
    "summarization": parse_summarization,
    "true_false": parse_true_false,
    "title_generation": parse_title_generation,
    "keyword_extraction": parse_keyword_extraction,
}
assert set(VALIDATORS) == set(D3_TASKS)


def validate(task: str, text: str, source: str | None = None) -> Validation:
    try:
        fn = VALIDATORS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; known: {sorted(VALIDATORS)}") from None
    return fn(text, source)
