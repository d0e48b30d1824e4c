"""Chat SFT records in their datasets' own schemas, as conversations: a list of {role, content} messages
with the roles system, user and assistant (paper Appendix C.1: one template for every collection).

    to_messages("metamathqa", {"query": ..., "response": ...})   # -> [{"role": "user", ...}, {"role": "assistant", ...}]
    to_messages("ultrachat", {"messages": [...]})                # multi-turn kept
    # or a Rejection(reason) saying why the record is no conversation

Schemas: databricks-dolly-15k {instruction, context, response, category}; Auto-CoT {question, rationale,
answer}; meta-math/MetaMathQA {type, query, original_question, response}; HuggingFaceH4/ultrachat_200k
{prompt, prompt_id, messages: [{content, role}]}. A conversation starts with an optional system turn,
then alternates user / assistant and ends with an assistant turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from hare_assets.core.rejection import Rejection

Messages = list[dict[str, str]]


def _text(record: dict, name: str, required: bool = True) -> str | Rejection:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return Rejection(f"missing_{name}") if required else ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return Rejection(f"{name}_not_text")
    return str(value).strip()


def _fields(record: dict, *names: str, optional: tuple[str, ...] = ()) -> list[str] | Rejection:
    values = [_text(record, n) for n in names] + [_text(record, n, required=False) for n in optional]
    return next((v for v in values if isinstance(v, Rejection)), values)


def _exchange(user: str, assistant: str) -> Messages:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def from_dolly(record: dict) -> Messages | Rejection:
    fields = _fields(record, "instruction", "response", optional=("context",))
    if isinstance(fields, Rejection):
        return fields
    instruction, response, context = fields
    return _exchange(f"{instruction}\n\n{context}" if context else instruction, response)


def from_autocot(record: dict) -> Messages | Rejection:
    fields = _fields(record, "question", "answer", optional=("rationale",))
    if isinstance(fields, Rejection):
        return fields
    question, answer, rationale = fields
    question = re.sub(r"\n?\s*A:\s*$", "", re.sub(r"^Q:\s*", "", question)).strip()  # the demos' "Q: ...\nA:"
    reply = rationale if rationale and answer in rationale else f"{rationale}\nThe answer is {answer}.".strip()
    return _exchange(question, reply)


def from_metamathqa(record: dict) -> Messages | Rejection:
    fields = _fields(record, "query", "response")
    return fields if isinstance(fields, Rejection) else _exchange(*fields)


ROLE_NAMES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant"}


def from_ultrachat(record: dict) -> Messages | Rejection:
    turns = record.get("messages")
    if isinstance(turns, str):  # ingestion JSON-encodes a structured text field
        try:
            turns = json.loads(turns)
        except ValueError:
            return Rejection("bad_messages_json")
    if not isinstance(turns, list) or not turns:
        return Rejection("missing_messages")
    messages = []
    for turn in turns:
        if not isinstance(turn, dict) or ROLE_NAMES.get(str(turn.get("role")).lower()) is None:
            return Rejection("unknown_role")
        content = _text(turn, "content")
        if isinstance(content, Rejection):
            return Rejection("empty_turn")
        messages.append({"role": ROLE_NAMES[turn["role"].lower()], "content": content})
    return messages


CONVERTERS: dict[str, Callable[[dict], Messages | Rejection]] = {
    "dolly": from_dolly, "autocot": from_autocot, "metamathqa": from_metamathqa, "ultrachat": from_ultrachat,
}


def check_turns(messages: Messages) -> Rejection | None:
    """An optional system turn first, then user / assistant alternating, ending with the assistant."""
    turns = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if not turns:
        return Rejection("no_exchange")
    if any(m["role"] != ("user", "assistant")[i % 2] for i, m in enumerate(turns)):
        return Rejection("turns_do_not_alternate")
    if turns[-1]["role"] != "assistant":
        return Rejection("ends_without_assistant")
    return None


def to_messages(converter: str, record: dict, system_prompt: str | None = None) -> Messages | Rejection:
    """The record as a conversation; `system_prompt` goes first where the record has no system turn."""
    try:
        convert = CONVERTERS[converter]
    except KeyError:
        raise ValueError(f"no chat conversion for converter {converter!r}; known: {sorted(CONVERTERS)}") from None
    messages = convert(record)
    if isinstance(messages, Rejection):
        return messages
    bad = check_turns(messages)
    if bad is not None:
        return bad
    if system_prompt and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system_prompt}, *messages]
    return messages


def decontamination_text(messages: Messages, system_prompt: str | None) -> str:
    """What the benchmark n-grams are matched against: every turn's content but the configured system prompt."""
    return "\n\n".join(m["content"] for m in messages if not (m["role"] == "system" and m["content"] == system_prompt))
