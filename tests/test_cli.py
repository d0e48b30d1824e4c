"""The `hare` command's argument handling: comma-separated selections, config errors, unknown names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hare_assets.cli import main, plan_runs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def defs(hare_home):
    from hare_assets.definitions import build_definitions

    return build_definitions()


def planned(defs, selection, partition=None) -> set[str]:
    return {k.to_user_string() for keys, _ in plan_runs(defs, selection, partition) for k in keys}


def test_comma_list_selects_every_item(defs):
    assert planned(defs, "d2_documents,d3_samples") == {"d2_documents", "d3_samples"}
    # Each item is any Dagster selection, as in `dagster asset materialize --select a,b`.
    both = planned(defs, "raw_documents, key:d1_signals or key:cleaned_documents")
    assert both == {"raw_documents", "d1_signals", "cleaned_documents"}
    assert planned(defs, "d1_documents,+d1_documents") == planned(defs, "+d1_documents")


def test_comma_list_runs_both(hare_home, capsys):
    assert main(["materialize", "--select", "raw_documents,d1_signals", "--partition", "HackerNews"]) == 0
    out = capsys.readouterr().out
    assert "2 runs" in out and "raw_documents [HackerNews]" in out and "d1_signals [HackerNews]" in out


def test_unknown_asset_lists_valid_names(defs):
    with pytest.raises(SystemExit) as e:
        plan_runs(defs, "d1_signalz", None)
    message = str(e.value)
    assert "no asset 'd1_signalz'" in message and "did you mean d1_signals" in message
    assert "raw_documents" in message and "training_mix" in message  # the valid names follow
    with pytest.raises(SystemExit, match="no asset 'nope'.*valid: .*raw_documents"):
        plan_runs(defs, "raw_documents,nope+", None)
    with pytest.raises(SystemExit, match="matches no asset; .*valid: .*raw_documents"):
        plan_runs(defs, "group:nothing_here", None)


def test_unknown_partition_lists_valid_ones(defs):
    with pytest.raises(SystemExit) as e:
        plan_runs(defs, "raw_documents", "HackerNew")
    message = str(e.value)
    assert "no selected asset has a partition 'HackerNew'" in message
    assert "did you mean HackerNews" in message and "PhiPapers" in message


def test_unknown_job_lists_jobs(defs):
    from hare_assets.cli import job_runs

    with pytest.raises(SystemExit, match="no job 'ablatio'; did you mean ablation"):
        job_runs(defs, "ablatio", None)


def hare(args: list[str], config: str | None, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HARE_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(tmp_path / "home" / "dagster"))
    env.pop("HARE_CONFIG", None)
    if config is not None:
        env["HARE_CONFIG"] = config
    return subprocess.run([sys.executable, "-m", "hare_assets.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", [["materialize", "--select", "raw_documents"], ["sample"],
                                     ["materialize", "--job", "ablation"], ["ui", "--port", "1"]])
def test_bad_config_one_message_exit_2(tmp_path, command):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: 3\ncleaning: {min_words: -1}\n")
    result = hare(command, str(bad), tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    assert str(bad) in output and "cleaning.min_words: Input should be greater than or equal to 0" in output
    assert "sources: Input should be a valid" in output


def test_missing_config_and_unset_variable(tmp_path):
    result = hare(["materialize"], str(tmp_path / "none.yaml"), tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"config file {tmp_path / 'none.yaml'} does not exist (HARE_CONFIG)" in result.stderr
    cfg = tmp_path / "var.yaml"
    cfg.write_text("sources: [{name: x, category: C4, weight: 1, uri: '${HARE_TEST_UNSET_VAR}/a', format: jsonl}]\n")
    result = hare(["materialize"], str(cfg), tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "sources.0.uri: environment variable HARE_TEST_UNSET_VAR used in the config is not set" in result.stderr
