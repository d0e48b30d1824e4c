"""The code location: loadable, the asset names and groups of DESIGN.md, and the Dagster features used."""

import subprocess
import sys
from pathlib import Path

import dagster as dg

from hare_assets.definitions import build_definitions

REPO = Path(__file__).resolve().parents[1]
GROUPS = {
    "sources": {"raw_documents"},
    "d1": {"d1_signals", "cleaned_documents", "d1_documents"},
    "topics": {"topic_clusters", "synthesis_seeds"},
    "d2": {"d2_documents"},
    "d3": {"d3_samples"},
    "finetuning": {"chat_sft_samples"},
    "tool": {"api_calling_samples", "tool_checkpoint", "api_calling_scores", "quantized_checkpoints"},
    "decontamination": {"benchmark_ngrams", "decontaminated_documents", "contamination_report"},
    "mixture": {"training_mix", "tokenized_shards"},
    "training": {"checkpoints"},
    "evaluation": {"benchmark_scores", "leakage_scores"},
    "warehouse": {"source_stats", "token_budget", "leaderboard", "leaderboard_tasks", "ablation_scores",
                  "contamination_summary"},
}


def graph(hare_home):
    return build_definitions().resolve_asset_graph()


def test_groups_and_names(hare_home):
    g = graph(hare_home)
    by_group = {}
    for key in g.get_all_asset_keys():
        by_group.setdefault(g.get(key).group_name, set()).add(key.to_user_string())
    for group, names in GROUPS.items():
        assert names <= by_group[group], group


def test_lineage_chain(hare_home):
    g = graph(hare_home)
    chain = ["raw_documents", "d1_signals", "cleaned_documents", "d1_documents", "topic_clusters", "synthesis_seeds",
             "d2_documents", "d3_samples", "decontaminated_documents", "training_mix", "tokenized_shards",
             "checkpoints", "benchmark_scores"]
    for up, down in zip(chain, chain[1:]):
        assert dg.AssetKey(up) in g.get(dg.AssetKey(down)).parent_keys, (up, down)
    assert dg.AssetKey("benchmark_ngrams") in g.get(dg.AssetKey("decontaminated_documents")).parent_keys
    assert dg.AssetKey("checkpoints") in g.get(dg.AssetKey("leakage_scores")).parent_keys
    # The chat fine-tune: its conversations are decontaminated with the mix and packed for its run.
    assert dg.AssetKey("raw_documents") in g.get(dg.AssetKey("chat_sft_samples")).parent_keys
    for down in ("decontaminated_documents", "tokenized_shards"):
        assert dg.AssetKey("chat_sft_samples") in g.get(dg.AssetKey(down)).parent_keys


def test_partitions(hare_home):
    g = graph(hare_home)
    assert len(g.get(dg.AssetKey("raw_documents")).partitions_def.get_partition_keys()) == 25
    assert len(g.get(dg.AssetKey("cleaned_documents")).partitions_def.get_partition_keys()) == 19
    assert g.get(dg.AssetKey("d1_signals")).partitions_def == g.get(dg.AssetKey("cleaned_documents")).partitions_def
    runs = ["stage1", "stage2", "abl_d1", "abl_d1_d2", "abl_d1_d2_d3", "chat"]
    for name in ("training_mix", "tokenized_shards", "checkpoints", "benchmark_scores", "leakage_scores"):
        assert g.get(dg.AssetKey(name)).partitions_def.get_partition_keys() == runs


def test_dagster_features(hare_home):
    defs = build_definitions()
    g = defs.resolve_asset_graph()
    for key in g.get_all_asset_keys():
        node = g.get(key)
        assert node.code_version, key
        assert node.description, key
    assert g.get(dg.AssetKey("raw_documents")).freshness_policy is not None
    assert g.get(dg.AssetKey("d1_documents")).automation_condition is not None
    assert g.get(dg.AssetKey("checkpoints")).automation_condition is None
    blocking = {k.asset_key.to_user_string() for k in g.asset_check_keys if g.get_check_spec(k).blocking}
    assert {"raw_documents", "d1_signals", "cleaned_documents", "d1_documents", "d3_samples",
            "decontaminated_documents"} <= blocking
    sensor = defs.get_sensor_def("hare_automation")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED


def test_dagster_cli_validates_the_workspace(hare_home):
    proc = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "All code locations passed validation" in proc.stderr + proc.stdout
