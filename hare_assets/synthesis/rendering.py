"""A parsed D3 sample (from validators.py) or an open-SFT record (from converters.py) as training text.

    text = format_sample("multiple_choice", parsed)
"""

from __future__ import annotations

import re
from typing import Any

from hare_assets.synthesis.prompts import D3_TASKS

# A sample's fields as its task's validator or converter produces them, and format_sample reads them.
Parsed = dict[str, Any]

# Tasks the open-SFT converters produce besides the D3 tasks.
SFT_TASKS = ("instruction", "chat")
ALL_TASKS = D3_TASKS + SFT_TASKS


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
