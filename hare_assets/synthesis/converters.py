"""Open SFT sets (Dolly, OpenHermes-2.5, Auto-CoT) converted into the D3 task formats.

    out = convert("dolly", record)        # list of {"task", "text"}, or a Rejection(reason)

`core.schemas.record_from_document` rebuilds a source record from its raw_documents row first.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from hare_assets.core.rejection import Rejection
from hare_assets.synthesis.rendering import Parsed, format_sample

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
