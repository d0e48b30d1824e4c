"""Code versions derived from what an asset runs, so the UI's staleness can be trusted.

An asset's code version hashes
- every module its definition module imports, transitively, inside `hare_assets` and `model_training`
  (read from the source with `ast`, imports inside functions included), with the packages' `__init__`s;
- every module of the packages it launches in a child process (`checkpoints` runs `model_training`);
- the config it reads, as JSON (a changed threshold re-flags only the assets that read it).

Nothing is listed by hand: a new import is covered the moment it is written.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Sequence
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


def imported_modules(path: Path, module: str) -> set[str]:
    """Every name a module's imports could refer to, absolute (`from a import b` gives a and a.b)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
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


def package_modules(package: str, root: Path = SOURCE_ROOT) -> tuple[str, ...]:
    """Every module of a local package (for a package run in a child process)."""
    folder = root.joinpath(*package.split("."))
    files = sorted(folder.rglob("*.py"))
    return tuple(".".join(f.relative_to(root).with_suffix("").parts).removesuffix(".__init__") for f in files)


def _config_json(config: object) -> str:
    """Settings models (nested in lists or dicts too) and plain values as canonical JSON."""
    return json.dumps(to_jsonable_python(config), sort_keys=True)


def code_version(module: str, *, launches: Sequence[str] = (), config: Iterable[object] = (),
                 root: Path = SOURCE_ROOT) -> str:
    """The code version of an asset defined in `module` (pass `__name__`).

    `launches`: local packages the asset runs in a child process; `config`: the settings it reads
    (pydantic models or plain JSON-able values).
    """
    modules = set(module_closure(module, root))
    for package in launches:
        for launched in package_modules(package, root):
            modules.update(module_closure(launched, root))
    h = hashlib.sha256()
    for name in sorted(modules):
        path = module_file(name, root)
        h.update(f"{name}\0".encode() + path.read_bytes() + b"\0")
    for item in config:
        h.update(_config_json(item).encode() + b"\0")
    return h.hexdigest()[:12]
