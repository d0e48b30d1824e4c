"""Code versions derived from what an asset runs, so the UI's staleness can be trusted.

An asset's code version hashes
- the source of its function and of every definition of its own module that the function uses,
  transitively (so two assets of one module do not re-flag each other);
- every module those definitions import, transitively, inside `hare_assets` and `model_training`
  (read from the source with `ast`, imports inside functions included), with the packages' `__init__`s;
- every module of the packages it launches in a child process (`checkpoints` runs `model_training`);
- the config it reads, as JSON (a changed threshold re-flags only the assets that read it).

Nothing is listed by hand: a new import is covered the moment it is written.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from pydantic_core import to_jsonable_python

SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding hare_assets/ and model_training/
LOCAL_PACKAGES = ("hare_assets", "model_training")


def module_file(module: str, root: Path = SOURCE_ROOT) -> Path | None:
    """The source file of a local module or package, or None (third-party, or not a module)."""
    parts = module.split(".")
    if parts[0] not in LOCAL_PACKAGES:
        return None
    base = root.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def imported_modules(path: Path, module: str, nodes: Iterable[ast.AST] | None = None) -> set[str]:
    """Every name the imports of a module (or of some of its nodes) could refer to, absolute
    (`from a import b` gives a and a.b)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    if nodes is None:
        nodes = [ast.parse(path.read_text(encoding="utf-8"), filename=str(path))]
    for node in (n for top in nodes for n in ast.walk(top)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@lru_cache(maxsize=None)
def module_closure(module: str, root: Path = SOURCE_ROOT) -> tuple[str, ...]:
    """The local modules importing `module` runs (itself, its imports, their imports, package inits)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        for candidate in _with_parents(name):
            if candidate in seen:
                continue
            path = module_file(candidate, root)
            if path is None:
                continue
            seen.add(candidate)
            todo.extend(imported_modules(path, candidate))
    return tuple(sorted(seen))


def _bindings(tree: ast.Module) -> dict[str, ast.stmt]:
    """Module-level name -> the statement that binds it (def, class, assignment or import)."""
    bound: dict[str, ast.stmt] = {}
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[stmt.name] = stmt
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                bound[(alias.asname or alias.name).split(".")[0]] = stmt
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        bound[name.id] = stmt
    return bound


def _function_node(tree: ast.Module, name: str, first_line: int) -> ast.AST:
    """The def of `name` starting at `first_line` (its first decorator or its def line), nested or not."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first_line in (start, node.lineno):
                return node
    raise LookupError(f"no def {name} at line {first_line}")


@lru_cache(maxsize=None)
def function_closure(module: str, name: str, first_line: int, root: Path = SOURCE_ROOT) -> tuple[str, tuple[str, ...]]:
    """(the source a function runs from its own module, the local modules it imports): the function,
    then every module-level definition it names, transitively."""
    path = module_file(module, root)
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    bound = _bindings(tree)
    todo, used = [_function_node(tree, name, first_line)], []
    while todo:
        node = todo.pop()
        if any(node is u for u in used):
            continue
        used.append(node)
        todo.extend(bound[n.id] for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in bound)
    used.sort(key=lambda n: n.lineno)
    imports = [n for n in used if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = set(_with_parents(module))
    for imported in imported_modules(path, module, used):
        modules.update(module_closure(imported, root) if module_file(imported, root) else ())
    own = "\n".join(ast.get_source_segment(source, n) or "" for n in used if n not in imports)
    return own, tuple(sorted(m for m in modules if m != module))


def package_modules(package: str, root: Path = SOURCE_ROOT) -> tuple[str, ...]:
    """Every module of a local package (for a package run in a child process)."""
    folder = root.joinpath(*package.split("."))
    files = sorted(folder.rglob("*.py"))
    return tuple(".".join(f.relative_to(root).with_suffix("").parts).removesuffix(".__init__") for f in files)


def _config_json(config: object) -> str:
    """Settings models (nested in lists or dicts too) and plain values as canonical JSON."""
    return json.dumps(to_jsonable_python(config), sort_keys=True)


def code_version(fn: Callable, *, launches: Sequence[str] = (), config: Iterable[object] = (),
                 root: Path = SOURCE_ROOT) -> str:
    """The code version of the asset computed by `fn`.

    `launches`: local packages the asset runs in a child process; `config`: the settings it reads
    (pydantic models or plain JSON-able values).
    """
    own, imported = function_closure(fn.__module__, fn.__name__, fn.__code__.co_firstlineno, root)
    modules = set(imported)
    for package in launches:
        for launched in package_modules(package, root):
            modules.update(module_closure(launched, root))
    h = hashlib.sha256(own.encode() + b"\0")
    for name in sorted(modules):
        path = module_file(name, root)
        h.update(f"{name}\0".encode() + path.read_bytes() + b"\0")
    for item in config:
        h.update(_config_json(item).encode() + b"\0")
    return h.hexdigest()[:12]
