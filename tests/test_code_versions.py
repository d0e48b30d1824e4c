"""Code versions cover what each asset runs, so the UI's staleness can be trusted.

Each case edits a copy of the source tree (or its packaged config) and builds the Definitions in a
fresh interpreter on that copy: the assets whose code version changed are exactly the ones the UI then
shows as stale ("code version changed")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hare_assets.core.code_version import SOURCE_ROOT, code_version, function_closure

PRINT_VERSIONS = """
import json
from hare_assets.definitions import defs
print(json.dumps({k.to_user_string(): a.code_versions_by_key[k] for a in defs.assets for k in a.keys}))
"""


def copy_tree(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("hare_assets", "model_training", "dbt_like_sql"):
        shutil.copytree(SOURCE_ROOT / folder, dest / folder, ignore=ignore)
    return dest


def start_versions(tree: Path, home: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("HARE_CONFIG", "HARE_SQL_DIR", "PYTHONPATH")}
    env.update(HARE_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), PYTHONPATH=str(tree))
    return subprocess.Popen([sys.executable, "-c", PRINT_VERSIONS], cwd=tree, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def edit_train(tree: Path) -> None:
    append(tree / "model_training" / "train.py", "\n# a changed training loop\n")


def edit_backend(tree: Path) -> None:
    # The module of the backend the packaged config uses (synthesis.backend.kind: transformers).
    append(tree / "hare_assets" / "core" / "generation" / "transformers_backend.py", "\n# a changed generation backend\n")


def edit_threshold(tree: Path) -> None:
    config = tree / "hare_assets" / "default_config.yaml"
    text = config.read_text()
    assert "  min_words: 20\n" in text
    config.write_text(text.replace("  min_words: 20\n", "  min_words: 25\n"))


EDITS = {"unchanged": None, "train": edit_train, "backend": edit_backend, "threshold": edit_threshold}


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> dict[str, dict[str, str]]:
    """Every asset's code version per edited copy, built in parallel interpreters."""
    root = tmp_path_factory.mktemp("code_versions")
    procs = {}
    for name, edit in EDITS.items():
        tree = copy_tree(root / name)
        if edit:
            edit(tree)
        procs[name] = start_versions(tree, root / "home")
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-3000:]
        out[name] = json.loads(stdout.strip().splitlines()[-1])
    return out


def changed(versions: dict, case: str) -> set[str]:
    return {k for k, v in versions[case].items() if versions["unchanged"][k] != v}


def test_every_asset_has_a_code_version(versions):
    assert len(versions["unchanged"]) >= 21 and all(versions["unchanged"].values())


def test_a_changed_training_loop_reflags_checkpoints_and_the_scores(versions):
    # checkpoints and tool_checkpoint launch model_training; the scores and the GGUF export load checkpoints with it.
    assert changed(versions, "train") == {"checkpoints", "benchmark_scores", "leakage_scores", "tool_checkpoint",
                                          "api_calling_scores", "quantized_checkpoints"}


def test_a_changed_generation_backend_reflags_everything_that_generates(versions):
    # leakage_scores rephrases benchmark questions through the same backend; the API-calling samples and the RAG
    # baseline generate through it.
    assert changed(versions, "backend") == {"topic_clusters", "d2_documents", "d3_samples", "leakage_scores",
                                            "api_calling_samples", "api_calling_scores"}


def test_a_changed_cleaning_threshold_reflags_only_the_filter(versions):
    assert changed(versions, "threshold") == {"cleaned_documents"}


def closure(fn) -> tuple[str, tuple[str, ...]]:
    return function_closure(fn.__module__, fn.__name__, fn.__code__.co_firstlineno)


def test_the_closure_follows_what_the_function_uses():
    from hare_assets.evaluation import assets as evaluation
    from hare_assets.topics import assets as topics

    # topic_clusters generates labels, synthesis_seeds in the same module does not. make_backend imports
    # each backend's module inside its body: they all count, whichever kind the config names.
    generation = [f"hare_assets.core.generation.{m}"
                  for m in ("backends", "transformers_backend", "openai_backend", "vllm_backend")]
    assert set(generation) <= set(closure(topics.topic_clusters)[1])
    assert not set(generation) & set(closure(topics.synthesis_seeds)[1])
    # Its own module's helpers count by their source: rephrase_through_backend is leakage_scores'.
    leakage = next(f for f in asset_functions(evaluation) if f.__name__ == "leakage_scores")
    own, modules = closure(leakage)
    assert "def rephrase_through_backend" in own and "def publish_rows" in own
    # ... and an import inside its body counts too (model_training.evaluate).
    assert "model_training.evaluate" in modules


def asset_functions(module) -> list:
    """The asset functions built inside build_assets (nested defs)."""
    from hare_assets.core.settings import load_settings

    return [a.op.compute_fn.decorated_fn for a in module.build_assets(load_settings())]


def test_a_launched_package_must_be_named():
    from hare_assets.training import assets as training

    checkpoints = asset_functions(training)[0]  # the def is nested in build_checkpoints
    assert not any(m.startswith("model_training") for m in closure(checkpoints)[1])
    assert code_version(checkpoints) != code_version(checkpoints, launches=["model_training"])


def test_config_changes_the_version_and_order_of_keys_does_not():
    from hare_assets.dedup import plan

    base = code_version(plan.write_deduplicated, config=[{"a": 1, "b": 2}])
    assert code_version(plan.write_deduplicated, config=[{"b": 2, "a": 1}]) == base
    assert code_version(plan.write_deduplicated, config=[{"a": 1, "b": 3}]) != base
