"""D3 task data: parse and validate generations per task, render them as training text, and convert
open SFT sets (Dolly, OpenHermes-2.5, Auto-CoT) into the same task formats.

    ok, parsed, reason = validate("multiple_choice", generation_text)
    if ok:
        text = format_sample("multiple_choice", parsed)
    out = convert("dolly", record)        # list of {"task", "text"}, or a Rejection(reason)

Every validator returns `(ok, parsed or None, reason)`; `reason` is "ok" or a short snake_case
rejection reason, so the rejection table per reason comes for free. Tasks that need the source
document (summarization, title generation, keyword extraction) take it as `source`, and their
rendered sample includes it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from hare_assets.synthesis.prompts import D3_TASKS, templates_for

Parsed = dict[str, Any]
Result = tuple[bool, Parsed | None, str]
OK = "ok"

# Tasks the open-SFT converters produce besides the D3 synthesis tasks.
SFT_TASKS = ("instruction", "chat")
ALL_TASKS = D3_TASKS + SFT_TASKS

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.S)
_BLANK = re.compile(r"_{3,}")
_PLACEHOLDER = re.compile(r"^<[^<>]{1,40}>$")
_LETTER_PREFIX = re.compile(r"^\(?([A-Da-d])[).:]\s+")
_LETTER_ONLY = re.compile(r"^\(?([A-Da-d])\)?[.:]?$")


def _reject(reason: str) -> Result:
    return False, None, reason


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


def parse_qa(text: str, source: str | None = None) -> Result:
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
    return True, {"pairs": clean}, OK


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


def parse_multiple_choice(text: str, source: str | None = None) -> Result:
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
    return True, {"question": q, "options": opts, "answer": opts[index], "answer_index": index}, OK


def parse_cloze(text: str, source: str | None = None) -> Result:
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
    return True, {"text": _BLANK.sub("____", body), "answer": answer}, OK


def parse_summarization(text: str, source: str | None = None) -> Result:
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
    return True, {"summary": summary, "source": source.strip()}, OK


def parse_true_false(text: str, source: str | None = None) -> Result:
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
    return True, {"statement": statement, "answer": word == "true"}, OK


def parse_title_generation(text: str, source: str | None = None) -> Result:
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
    return True, parsed, OK


def parse_keyword_extraction(text: str, source: str | None = None) -> Result:
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
    return True, parsed, OK


VALIDATORS: dict[str, Callable[[str, str | None], Result]] = {
    "qa": parse_qa,
    "multiple_choice": parse_multiple_choice,
    "cloze": parse_cloze,
    "summarization": parse_summarization,
    "true_false": parse_true_false,
    "title_generation": parse_title_generation,
    "keyword_extraction": parse_keyword_extraction,
}
assert set(VALIDATORS) == set(D3_TASKS)


def validate(task: str, text: str, source: str | None = None) -> Result:
    try:
        fn = VALIDATORS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; known: {sorted(VALIDATORS)}") from None
    return fn(text, source)


# ---------------------------------------------------------------------------------------- rendering


def _with_context(parsed: Parsed, body: str) -> str:
    context = (parsed.get("context") or "").strip()
    return f"{context}\n\n{body}" if context else body


def format_sample(task: str, parsed: Parsed) -> str:
    """A validated sample (or a converter's parsed record) as training text."""
    if task == "qa":
        blocks = []
        for p in parsed["pairs"]:
            rationale = (p.get("rationale") or "").strip()
            answer = p["answer"].strip()
            if rationale:
                stated = re.search(r"answer\s*(?:is|:)\s*[*$(]*\s*" + re.escape(answer), rationale, re.I)
                tail = "" if stated else f"\nThe answer is {answer}."
                blocks.append(f"Question: {p['question'].strip()}\nAnswer: {rationale}{tail}")
            else:
                blocks.append(f"Question: {p['question'].strip()}\nAnswer: {answer}")
        return _with_context(parsed, "\n\n".join(blocks))
    if task == "multiple_choice":
        letters = "ABCD"
        lines = [f"Question: {parsed['question']}"]
        lines += [f"{letters[i]}. {o}" for i, o in enumerate(parsed["options"])]
        i = parsed["answer_index"]
        lines.append(f"Answer: {letters[i]}. {parsed['options'][i]}")
        return "\n".join(lines)
    if task == "cloze":
        return f"Fill in the blank.\n{parsed['text']}\nAnswer: {parsed['answer']}"
    if task == "summarization":
        instruction = (parsed.get("instruction") or "Summarize the following text.").strip()
        return f"{instruction}\n\n{parsed['source']}\n\nSummary: {parsed['summary']}"
    if task == "true_false":
        return f"True or false? {parsed['statement']}\nAnswer: {'True' if parsed['answer'] else 'False'}"
    if task == "title_generation":
        if parsed.get("source"):
            return f"{parsed['source']}\n\nWrite a title for the text above.\nTitle: {parsed['title']}"
        return f"Title: {parsed['title']}"
    if task == "keyword_extraction":
        kws = ", ".join(parsed["keywords"])
        if parsed.get("source"):
            return f"{parsed['source']}\n\nList the key terms of the text above.\nKeywords: {kws}"
        return f"Keywords: {kws}"
    if task == "instruction":
        parts = []
        if parsed.get("system"):
            parts.append(f"System: {parsed['system']}")
        parts.append(f"Instruction: {parsed['instruction']}")
        if parsed.get("input"):
            parts.append(f"Input: {parsed['input']}")
        parts.append(f"Response: {parsed['response']}")
        return "\n".join(parts)
    if task == "chat":
        names = {"system": "System", "human": "User", "gpt": "Assistant"}
        return "\n".join(f"{names[role]}: {value}" for role, value in parsed["turns"])
    raise ValueError(f"unknown task {task!r}; known: {list(ALL_TASKS)}")


# ------------------------------------------------------------------------------- open SFT converters


@dataclass(frozen=True)
class Rejection:
    """Why a record could not be converted (snake_case reason, for the rejection table)."""

    reason: str


Converted = list[dict[str, str]] | Rejection


def _as_record(record: Any) -> dict | Rejection:
    if isinstance(record, (bytes, bytearray)):
        try:
            record = record.decode("utf-8")
        except UnicodeDecodeError:
            return Rejection("invalid_utf8")
    if isinstance(record, str):
        try:
            record = json.loads(record)
        except ValueError:
            return Rejection("bad_json")
    if not isinstance(record, dict):
        return Rejection("not_an_object")
    return record


def _text_field(record: dict, name: str, required: bool = True) -> str | Rejection:
    value = record.get(name)
    if value is None:
        return Rejection(f"missing_{name}") if required else ""
    if not isinstance(value, str):
        return Rejection(f"{name}_not_text")
    value = value.strip()
    if required and not value:
        return Rejection(f"empty_{name}")
    return value


def _text_fields(record: dict, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> tuple[str, ...] | Rejection:
    """The named text fields in order, or the first field's rejection (required ones checked first)."""
    values = []
    for name, needed in [(n, True) for n in required] + [(n, False) for n in optional]:
        value = _text_field(record, name, required=needed)
        if isinstance(value, Rejection):
            return value
        values.append(value)
    return tuple(values)


def _sample(task: str, parsed: Parsed) -> dict[str, str]:
    return {"task": task, "text": format_sample(task, parsed)}


DOLLY_TASKS = {
    "closed_qa": "qa", "open_qa": "qa", "general_qa": "qa", "summarization": "summarization",
    "information_extraction": "instruction", "classification": "instruction", "brainstorming": "instruction",
    "creative_writing": "instruction",
}


def convert_dolly(record: Any) -> Converted:
    """databricks-dolly-15k: {instruction, context, response, category}."""
    rec = _as_record(record)
    if isinstance(rec, Rejection):
        return rec
    fields = _text_fields(rec, ("instruction", "response"), ("context",))
    if isinstance(fields, Rejection):
        return fields
    instruction, response, context = fields
    category = rec.get("category")
    if category is not None and not isinstance(category, str):
        return Rejection("category_not_text")
    task = DOLLY_TASKS.get((category or "").strip().lower(), "instruction")
    if task == "summarization" and not context:
        task = "instruction"
    if task == "qa":
        return [_sample("qa", {"context": context, "pairs": [{"question": instruction, "answer": response}]})]
    if task == "summarization":
        return [_sample("summarization", {"instruction": instruction, "source": context, "summary": response})]
    return [_sample("instruction", {"instruction": instruction, "input": context, "response": response})]


_HERMES_ROLES = {"system": "system", "human": "human", "gpt": "gpt",
                 # tolerated OpenAI-style spellings
                 "user": "human", "assistant": "gpt"}


def convert_openhermes(record: Any) -> Converted:
    """OpenHermes-2.5: {"conversations": [{"from": "system"|"human"|"gpt", "value": str}, ...], ...}.

    `conversations` (or the whole record) may arrive as a JSON string. One human/gpt exchange becomes
    an "instruction" sample, several a "chat" sample.
    """
    rec = _as_record(record)
    if isinstance(rec, Rejection):
        return rec
    conv = rec.get("conversations")
    if conv is None:
        return Rejection("missing_conversations")
    if isinstance(conv, str):
        try:
            conv = json.loads(conv)
        except ValueError:
            return Rejection("bad_conversations_json")
    if isinstance(conv, tuple):
        conv = list(conv)
    if not isinstance(conv, list) or not conv:
        return Rejection("conversations_not_a_list" if not isinstance(conv, list) else "empty_conversations")
    turns: list[tuple[str, str]] = []
    for turn in conv:
        if not isinstance(turn, dict):
            return Rejection("turn_not_an_object")
        who = turn.get("from", turn.get("role"))
        value = turn.get("value", turn.get("content"))
        role = _HERMES_ROLES.get(str(who).strip().lower()) if isinstance(who, str) else None
        if role is None:
            return Rejection("unknown_role")
        if not isinstance(value, str) or not value.strip():
            return Rejection("empty_turn")
        turns.append((role, value.strip()))
    system = None
    if turns[0][0] == "system":
        system = turns.pop(0)[1]
    if any(role == "system" for role, _ in turns):
        return Rejection("system_turn_not_first")
    if not turns:
        return Rejection("no_exchange")
    expected = "human"
    for role, _ in turns:
        if role != expected:
            return Rejection("turns_do_not_alternate")
        expected = "gpt" if role == "human" else "human"
    if turns[-1][0] != "gpt":
        return Rejection("ends_without_response")
    if len(turns) == 2:
        return [_sample("instruction", {"system": system, "instruction": turns[0][1], "response": turns[1][1]})]
    all_turns = ([("system", system)] if system else []) + turns
    return [_sample("chat", {"turns": all_turns})]


def _autocot_one(rec: dict) -> dict[str, str] | Rejection:
    if "question" in rec:
        fields = _text_fields(rec, ("question",), ("rationale",))
        if isinstance(fields, Rejection):
            return fields
        question, rationale = fields
        # Auto-CoT demos keep the prompt wrapping: "Q: ...\nA:".
        question = re.sub(r"^Q:\s*", "", question)
        question = re.sub(r"\n?\s*A:\s*$", "", question).strip()
        answer = rec.get("answer", rec.get("gold_ans", rec.get("pred_ans")))
        if isinstance(answer, list) and answer:
            answer = answer[0]
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            answer = str(answer)
        if answer is None:
            return Rejection("missing_answer")
        if not isinstance(answer, str):
            return Rejection("answer_not_text")
        if not answer.strip():
            return Rejection("empty_answer")
        if not question:
            return Rejection("empty_question")
        return _sample("qa", {"pairs": [{"question": question, "rationale": rationale, "answer": answer.strip()}]})
    if "instruction" in rec:  # the Alpaca-CoT packaging: {instruction, input, output}
        fields = _text_fields(rec, ("instruction", "output"), ("input",))
        if isinstance(fields, Rejection):
            return fields
        instruction, output, extra = fields
        question = f"{instruction}\n{extra}" if extra else instruction
        return _sample("qa", {"pairs": [{"question": question, "answer": output}]})
    return Rejection("missing_question")


def convert_autocot(record: Any) -> Converted:
    """Auto-CoT: {question, rationale, answer} (the demo files' {question, rationale, pred_ans, gold_ans}
    and a {"demo": [...]} wrapper are accepted) -> "qa" samples with the reasoning in the answer."""
    rec = _as_record(record)
    if isinstance(rec, Rejection):
        return rec
    items = rec["demo"] if isinstance(rec.get("demo"), list) else [rec]
    out = []
    for item in items:
        if not isinstance(item, dict):
            return Rejection("not_an_object")
        one = _autocot_one(item)
        if isinstance(one, Rejection):
            return one
        out.append(one)
    if not out:
        return Rejection("empty_demo")
    return out


def record_from_document(text: str, meta: str, text_field: str) -> dict:
    """A source record back from its raw_documents row: ingestion moved `text_field` out of the record
    (JSON-encoding structured values such as chat turns) and kept the other fields in `meta`."""
    record = {k: v for k, v in json.loads(meta).items() if k not in ("_file", "_line")}
    return {**record, text_field: text}


CONVERTERS: dict[str, Callable[[Any], Converted]] = {
    "dolly": convert_dolly,
    "openhermes": convert_openhermes,
    "autocot": convert_autocot,
}


def convert(converter: str, record: Any) -> Converted:
    """Dispatch on a source's `converter` name (settings.Source.converter)."""
    try:
        fn = CONVERTERS[converter]
    except KeyError:
        raise ValueError(f"unknown converter {converter!r}; known: {sorted(CONVERTERS)}") from None
    return fn(record)
