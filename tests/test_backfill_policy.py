"""The per-source assets in runs of several partitions (a grouped UI backfill) write what one run per
partition (`hare materialize`) writes, with each partition's own metadata and one conservation result."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml

from hare_assets.cli import main

REPO = Path(__file__).resolve().parents[1]
ASSETS = ["raw_documents", "d1_signals", "cleaned_documents"]
SOURCES = ["alpha", "beta", "gamma"]
TEXTS = {
    "alpha": ["The river runs through the valley and feeds the farms along its banks every spring season.",
              "Short.", "{broken"],
    "beta": ["A library keeps books, maps and newspapers, and its staff help readers find what they need today.",
             "Tea is grown on hills where the rain is frequent and the soil drains well, then dried and rolled."],
    "gamma": ["Bridges carry roads over rivers; engineers check their bearings and joints for wear every year."],
}


def write_corpus(tmp: Path, data: Path, sources: list[str], partitions_per_run: int) -> Path:
    """A config in `tmp` on the sources in `data` (shared: the quarantine rows name their file)."""
    raw = yaml.safe_load((REPO / "hare_assets" / "default_config.yaml").read_text())
    raw["sample_corpus"] = {"enabled": False}
    raw["sources"] = []
    for name in sources:
        folder = data / name
        folder.mkdir(parents=True, exist_ok=True)
        lines = [t if t.startswith("{") else json.dumps({"text": t}) for t in TEXTS.get(name, [])]
        (folder / "a.jsonl").write_text("".join(line + "\n" for line in lines))
        raw["sources"].append({"name": name, "category": "C4", "weight": 1.0, "uri": str(folder / "*.jsonl"),
                               "format": "jsonl"})
    raw["topics"]["seed_sources"] = {}
    raw["chat"]["sources"] = []
    raw["ingestion"]["partitions_per_run"] = partitions_per_run
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = tmp / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    return cfg


@pytest.fixture
def env(tmp_path, monkeypatch):
    def use(name: str, sources=SOURCES, partitions_per_run: int = 2) -> Path:
        home = tmp_path / name / "hare"
        (home / "dagster").mkdir(parents=True)
        monkeypatch.setenv("HARE_HOME", str(home))
        monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
        monkeypatch.setenv("HARE_CONFIG", str(write_corpus(tmp_path / name, tmp_path / "data", sources,
                                                                   partitions_per_run)))
        return home
    return use


def range_run(instance, keys: list[str], start: str, end: str):
    from hare_assets.definitions import build_definitions

    defs = build_definitions()
    return dg.materialize(list(defs.assets), selection=keys, instance=instance, resources=defs.resources,
                          raise_on_error=False,
                          tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end})


def lake_tables(home: Path) -> dict[str, list[dict]]:
    out = {}
    for folder in sorted((home / "lake").glob("*/*")):
        files = sorted(folder.glob("*.parquet"))
        if files:
            rows = [r for f in files for r in pq.read_table(f).to_pylist()]
            out[f"{folder.parent.name}/{folder.name}"] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True,
                                                                                             default=str))
    return out


def partition_metadata(instance, asset: str) -> dict[str, dict]:
    out = {}
    for partition in SOURCES:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1).records
        event = records[0].asset_materialization if records else None
        assert event is not None, f"{asset} [{partition}] not materialized"
        meta = {k: v.value for k, v in event.metadata.items()
                if k in ("dagster/row_count", "records_read", "quarantined", "rows_in", "rejected_by_rule")}
        out[partition] = meta
    return out


def test_grouped_runs_equal_per_partition_runs(env):
    home_a = env("per_partition")
    assert main(["materialize", "--select", ",".join(ASSETS)]) == 0
    with dg.DagsterInstance.get() as instance:
        per_partition = {a: partition_metadata(instance, a) for a in ASSETS}
    expected = lake_tables(home_a)

    home_b = env("grouped")
    with dg.DagsterInstance.get() as instance:
        for asset in ASSETS:  # two runs per asset: alpha..beta (2 partitions) and gamma
            for start, end in (("alpha", "beta"), ("gamma", "gamma")):
                result = range_run(instance, [asset], start, end)
                assert result.success, [e.message for e in result.all_events if e.is_failure]
        grouped = {a: partition_metadata(instance, a) for a in ASSETS}
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("raw_documents"), "rows_conserved")])
    assert lake_tables(home_b) == expected
    assert grouped == per_partition
    assert per_partition["raw_documents"]["alpha"]["records_read"] == 3
    assert per_partition["raw_documents"]["alpha"]["quarantined"] == 1
    assert per_partition["raw_documents"]["beta"]["dagster/row_count"] == 2
    # The latest raw_documents check ran for gamma alone; the alpha..beta one held both partitions.
    evaluation = next(iter(check.values())).event.dagster_event.event_specific_data
    assert evaluation.passed and evaluation.metadata["rows_in"].value == 1


def test_grouped_run_check_and_failure(env):
    env("failing", sources=["alpha", "beta", "empty"], partitions_per_run=3)
    with dg.DagsterInstance.get() as instance:
        ok = range_run(instance, ["raw_documents"], "alpha", "beta")
        assert ok.success
        evaluation = next(e for e in ok.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION").event_specific_data
        assert evaluation.passed and evaluation.metadata["partitions"].value == 2
        assert evaluation.metadata["by_partition"].value["alpha"] == {"rows_in": 3, "kept": 2, "rejected": 1,
                                                                      "conserved": True}
        mats = [e for e in ok.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
        assert sorted(e.partition for e in mats) == ["alpha", "beta"]

        bad = range_run(instance, ["raw_documents"], "alpha", "empty")
        assert not bad.success
        failure = next(e for e in bad.all_events if e.is_step_failure).step_failure_data
        assert "1 of 3 partitions failed: [empty] source empty: no readable documents" in \
            failure.user_failure_data.description


def test_definitions_group_per_source_assets(env):
    env("defs", partitions_per_run=5)
    from hare_assets.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    for asset in ASSETS:
        policy = graph.get(dg.AssetKey(asset)).backfill_policy
        assert policy is not None and policy.max_partitions_per_run == 5, (asset, policy)
