"""Function calls: the text forms, parsing, validation against an API's argument schema, and the comparison the
scores use (pure code: no Dagster).

Two text forms of one call:
- plain, what the RAG baseline and the generation prompt write: ``turn_on_camera(camera='back')``;
- functional, what the tool model writes (Octopus v2): ``<fn_3>(camera='back')<fn_end>``, token k for the
  k-th configured API.
Both are read with Python's `ast` (keyword arguments with literal values only), so a call parses or is
rejected with a named reason. Comparison follows the Berkeley Function Calling Leaderboard's AST checker:
the function must be the same, every required argument present, no unknown argument, and each value equal
after normalization (strings lowercased with spaces and ``,./-_*^`` removed, as BFCL's
`standardize_string`; integers and booleans by value).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from hare_assets.core.rejection import Rejection
from hare_assets.core.settings import Api, ApiArgument
from model_training.functional_tokens import END_TOKEN, FUNCTION_TOKEN

FUNCTIONAL_RE = re.compile(r"^\s*<fn_(\d+)>\s*(\(.*\))\s*" + re.escape(END_TOKEN), re.S)
_BFCL_STRIP = re.compile(r"[ ,./\-_*^]")


@dataclass(frozen=True)
class Call:
    function: str
    arguments: dict = field(default_factory=dict)

    def plain(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        return f"{self.function}({args})"

    def functional(self, apis: tuple[Api, ...]) -> str:
        index = [a.name for a in apis].index(self.function)
        return FUNCTION_TOKEN.format(index) + self.plain()[len(self.function):] + END_TOKEN


def parse_plain(text: str) -> Call | Rejection:
    """The first line of `text` as ``name(key=literal, ...)``."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    try:
        node = ast.parse(line, mode="eval").body
    except SyntaxError as e:
        return Rejection("unparsable", f"{e.msg}: {line[:120]!r}")
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return Rejection("not_a_call", line[:120])
    if node.args:
        return Rejection("positional_arguments", line[:120])
    arguments = {}
    for kw in node.keywords:
        if kw.arg is None:
            return Rejection("not_a_call", f"**kwargs in {line[:120]!r}")
        try:
            arguments[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            return Rejection("non_literal_argument", f"{kw.arg} in {line[:120]!r}")
    return Call(node.func.id, arguments)


def parse_functional(text: str, apis: tuple[Api, ...]) -> Call | Rejection:
    """``<fn_k>(...)<fn_end>`` (whitespace around the parts allowed: decoding may put a space after a token)."""
    m = FUNCTIONAL_RE.match(text)
    if m is None:
        return Rejection("no_functional_call", text[:120])
    k = int(m.group(1))
    if k >= len(apis):
        return Rejection("unknown_function", f"<fn_{k}> with {len(apis)} APIs")
    return parse_plain(apis[k].name + m.group(2))


def _type_ok(arg: ApiArgument, value: object) -> bool:
    if arg.type == "boolean":
        return isinstance(value, bool)
    if arg.type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)


def validate(call: Call, apis: tuple[Api, ...]) -> Rejection | None:
    """Why `call` does not fit the API set (function exists, arguments match the schema), or None."""
    api = next((a for a in apis if a.name == call.function), None)
    if api is None:
        return Rejection("unknown_function", call.function)
    schema = {a.name: a for a in api.arguments}
    unknown = sorted(set(call.arguments) - set(schema))
    if unknown:
        return Rejection("unknown_argument", f"{api.name}: {unknown}")
    missing = sorted(a.name for a in api.arguments if a.required and a.name not in call.arguments)
    if missing:
        return Rejection("missing_argument", f"{api.name}: {missing}")
    for name, value in call.arguments.items():
        arg = schema[name]
        if not _type_ok(arg, value):
            return Rejection("wrong_type", f"{api.name}.{name}: {type(value).__name__}, expected {arg.type}")
        if arg.enum is not None and normalize(value) not in {normalize(v) for v in arg.enum}:
            return Rejection("not_in_enum", f"{api.name}.{name}: {value!r} not in {list(arg.enum)}")
        if arg.pattern is not None and not re.fullmatch(arg.pattern, value):
            return Rejection("pattern_mismatch", f"{api.name}.{name}: {value!r} !~ {arg.pattern}")
        if isinstance(value, str) and not value.strip():
            return Rejection("empty_argument", f"{api.name}.{name}")
    return None


def normalize(value: object) -> object:
    """BFCL's string standardization; other values as they are."""
    if isinstance(value, str):
        return _BFCL_STRIP.sub("", value).lower().replace("'", '"')
    return value


def calls_match(predicted: Call | Rejection, target: Call) -> bool:
    """Exact function, the same argument names, values equal after normalization."""
    if isinstance(predicted, Rejection) or predicted.function != target.function:
        return False
    if set(predicted.arguments) != set(target.arguments):
        return False
    return all(normalize(predicted.arguments[k]) == normalize(v) for k, v in target.arguments.items())
