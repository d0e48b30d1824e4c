"""The import rule: a stage imports only the shared core and itself; the core imports no stage; only
definitions.py and the CLI see every stage; model_training imports nothing from hare_assets."""

from __future__ import annotations

from pathlib import Path

import pytest

from hare_assets.core.code_version import SOURCE_ROOT, imported_modules

PACKAGE = SOURCE_ROOT / "hare_assets"
STAGES = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file() and p.name != "core")
TOP_LEVEL = {"hare_assets.definitions", "hare_assets.cli", "hare_assets.__init__"}


def modules_under(folder: Path) -> list[tuple[str, Path]]:
    return [(".".join(f.relative_to(SOURCE_ROOT).with_suffix("").parts), f) for f in sorted(folder.rglob("*.py"))]


def local_imports(module: str, path: Path) -> set[str]:
    return {m for m in imported_modules(path, module) if m.split(".")[0] in ("hare_assets", "model_training")}


def offending(module: str, path: Path, allowed: tuple[str, ...]) -> list[str]:
    own = module.split(".")[:2]
    return sorted(m for m in local_imports(module, path)
                  if m.startswith("hare_assets") and m.split(".")[:2] != own
                  and not any(m == a or m.startswith(a + ".") for a in allowed))


def test_the_stages_are_the_expected_folders():
    assert STAGES == ["cleaning", "decontamination", "dedup", "evaluation", "finetuning", "mixture", "sources",
                      "sql_models", "synthesis", "tool", "topics", "training"]


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_only_the_core_and_itself(stage):
    bad = {m: offending(m, p, ("hare_assets.core",)) for m, p in modules_under(PACKAGE / stage)}
    assert not {m: b for m, b in bad.items() if b}, "cross-stage imports"


def test_the_core_imports_no_stage():
    bad = {m: offending(m, p, ()) for m, p in modules_under(PACKAGE / "core")}
    assert not {m: b for m, b in bad.items() if b}


def test_only_definitions_and_the_cli_sit_beside_the_folders():
    loose = {".".join(f.relative_to(SOURCE_ROOT).with_suffix("").parts) for f in PACKAGE.glob("*.py")}
    assert loose <= TOP_LEVEL


def test_model_training_stands_alone():
    bad = {m: sorted(i for i in local_imports(m, p) if i.startswith("hare_assets"))
           for m, p in modules_under(SOURCE_ROOT / "model_training")}
    assert not {m: b for m, b in bad.items() if b}


def test_the_rule_catches_a_new_cross_stage_import(tmp_path):
    """The checker itself: a planted `from hare_assets.synthesis...` in a topics module is found."""
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from ..synthesis.prompts import D3_TASKS\n    return D3_TASKS\n")
    assert offending("hare_assets.topics.planted", planted, ("hare_assets.core",)) == [
        "hare_assets.synthesis.prompts", "hare_assets.synthesis.prompts.D3_TASKS"]
