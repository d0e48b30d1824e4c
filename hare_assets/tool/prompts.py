"""The API-calling prompts: generating (query, call) pairs, the RAG baseline's call, and the tool model's
training / inference prompt (pure code). Template hashes go into the request-cache keys."""

from __future__ import annotations

from hare_assets.core.generation.prompt import PromptTemplate
from hare_assets.core.settings import Api
from hare_assets.tool.calls import Call

SAMPLE_PROMPT = PromptTemplate("api_calling_sample", "tool", 1, (
    "You write training data for a phone assistant that answers a user's request with one function call.\n"
    "Function: {signature}\n{description}\nArguments:\n{arguments}\n\n"
    "Write one new, realistic user request for this function and its exact call, in the format of the "
    "examples. Vary the wording and the argument values; do not copy the examples.\n\n{examples}Request:"))

RAG_PROMPT = PromptTemplate("api_calling_rag", "tool", 1, (
    "You are a phone assistant. Answer the user's request with exactly one call of one of these functions, "
    "written as name(argument='value'), and nothing else.\n\nFunctions:\n{functions}\n\n"
    "Request: {query}\nCall:"))

# Octopus v2's instruction; the completion is the functional call <fn_k>(...)<fn_end>.
TOOL_PROMPT = ("Below is the query from the users, please call the correct function and generate the parameters "
               "to call the function.\n\nQuery: {query}\n\nResponse: ")


def signature(api: Api) -> str:
    return f"{api.name}(" + ", ".join(f"{a.name}: {a.type}" for a in api.arguments) + ")"


def argument_lines(api: Api) -> str:
    if not api.arguments:
        return "- (none)"
    return "\n".join(f"- {a.name} ({a.type}{'' if a.required else ', optional'}): {a.description}"
                     + (f"; one of {list(a.enum)}" if a.enum else "") for a in api.arguments)


def sample_prompt(api: Api, examples: list[tuple[str, Call]]) -> str:
    shots = "".join(f"Request: {q}\nCall: {c.plain()}\n\n" for q, c in examples)
    return SAMPLE_PROMPT.render(signature=signature(api), description=api.description,
                                arguments=argument_lines(api), examples=shots)


def parse_sample(text: str) -> tuple[str, str] | None:
    """(query, call text) from a generation that continues after "Request:"; None without both lines."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) < 2 or not lines[1].startswith("Call:"):
        return None
    return lines[0], lines[1][len("Call:"):].strip()


def function_line(api: Api) -> str:
    return f"- {signature(api)}: {api.description}"


def rag_prompt(query: str, retrieved: list[Api]) -> str:
    return RAG_PROMPT.render(functions="\n".join(function_line(a) for a in retrieved), query=query)


def tool_prompt(query: str) -> str:
    return TOOL_PROMPT.format(query=query)
