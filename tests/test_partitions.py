"""Per-source partitions through the real CLI: bad sources fail alone, with a clear message."""

import json

import duckdb
import pytest

from hare_assets.cli import main


def config(tmp_path, sources: list[dict]) -> str:
    import yaml

    from hare_assets.core.settings import PACKAGED_CONFIG

    raw = yaml.safe_load(PACKAGED_CONFIG.read_text())
    raw["sample_corpus"] = {"enabled": False}
    raw["sources"] = sources
    raw["topics"]["seed_sources"] = {}
    raw["chat"]["sources"] = []
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(raw))
    return str(p)


def source(name, pattern):
    return {"name": name, "category": "C4", "weight": 1.0, "uri": pattern, "format": "jsonl"}


@pytest.fixture
def corpus(tmp_path, hare_home, monkeypatch):
    data = tmp_path / "data"
    (data / "good").mkdir(parents=True)
    (data / "good" / "a.jsonl").write_text(
        json.dumps({"text": "A complete document about rivers."}) + "\n{broken\n" + json.dumps({"txt": "x"}) + "\n")
    (data / "bad").mkdir()
    (data / "bad" / "a.jsonl").write_text("{broken\n" + json.dumps({"other": 1}) + "\n")
    monkeypatch.setenv("HARE_CONFIG", config(tmp_path, [
        source("good", "data/good/*.jsonl"), source("allbad", "data/bad/*.jsonl"), source("missing", "data/none/*.jsonl")]))
    return hare_home


def test_bad_sources_fail_alone_and_good_rows_are_kept(corpus, capsys):
    assert main(["materialize", "--select", "raw_documents"]) == 1
    out = capsys.readouterr()
    assert "ok" in out.out and "raw_documents [good]" in out.out
    assert "source missing: no files match uri" in out.out
    assert "source allbad: no readable documents" in out.out and "'bad_json': 1" in out.out
    with duckdb.connect(str(corpus / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select source, text from raw_documents").fetchall() == [
            ("good", "A complete document about rivers.")]
        assert sorted(con.execute("select source, line, reason from raw_quarantine").fetchall()) == [
            ("good", 2, "bad_json"), ("good", 3, "missing_text_field")]


def test_single_partition_and_unknown_partition(corpus, capsys):
    assert main(["materialize", "--select", "raw_documents", "--partition", "good"]) == 0
    assert "1 runs" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no selected asset has a partition 'nope'"):
        main(["materialize", "--select", "raw_documents", "--partition", "nope"])
    with pytest.raises(SystemExit, match="Invalid selection string: raw_documents d1_documents"):
        main(["materialize", "--select", "raw_documents d1_documents"])
    with pytest.raises(SystemExit, match="matches no asset"):
        main(["materialize", "--select", "group:nothing_here"])


def test_conservation_check_recorded(corpus):
    import dagster as dg

    assert main(["materialize", "--select", "raw_documents", "--partition", "good"]) == 0
    with dg.DagsterInstance.get() as instance:
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("raw_documents"), "rows_conserved")])
        evaluation = next(iter(record.values())).event.dagster_event.event_specific_data
        assert evaluation.passed
        assert evaluation.metadata["rows_in"].value == 3 and evaluation.metadata["kept"].value == 1
