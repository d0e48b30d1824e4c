"""D1 through the real CLI on a small two-source corpus: bad input accounted for, per-source removal
table and conservation, weights travel, and a changed threshold re-runs only the filter step."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from hare_assets.cli import main
from hare_assets.core.lake import asset_dir, parquet_files
from hare_assets.core.minhash import lsh_params

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from synthetic_corpus import clean_texts  # noqa: E402  (deterministic English prose)

D1 = "group:sources or group:d1"
BIG = 50 * 1024 * 1024  # a 50 MB single document


BAD = {
    "empty": "",
    "whitespace": " \n\t \u3000 \n",
    "emoji": "😀 🎉🎉 👍🏽 🚀🚀🚀 ❤️",
    "mixed_scripts": ("The committee met on Tuesday to discuss the new budget proposal for the library. "
                      "Привет, мир: это русский текст посреди английского. 你好世界，这是中文。"
                      "Members then asked for more details about how the money would be spent next year."),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two sources written once, materialized once through the CLI; tests run in file order."""
    tmp_path = tmp_path_factory.mktemp("d1")
    home = tmp_path / "hare"
    (home / "dagster").mkdir(parents=True)
    web, wiki = clean_texts(8), clean_texts(6, start=500)
    web.append(wiki[0])  # a cross-dataset exact duplicate: the higher-weight source (web, 11) keeps it
    data = tmp_path / "data"
    for folder in ("web", "wiki"):
        (data / folder).mkdir(parents=True)
    lines = [json.dumps({"text": t}) for t in web + list(BAD.values())]
    lines.append('{"text": "A lone surrogate \\ud800 in an otherwise fine document about rivers."}')
    with open(data / "web" / "a.jsonl", "w") as f:
        f.write("\n".join(lines) + "\n")
        f.write(json.dumps({"text": "All work and no play. " * (BIG // 22)}) + "\n")
    (data / "wiki" / "a.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in wiki))
    raw = yaml.safe_load((REPO / "hare_assets" / "default_config.yaml").read_text())
    raw["sample_corpus"] = {"enabled": False}
    raw["sources"] = [
        {"name": "web", "category": "C4", "weight": 11.0, "uri": "data/web/*.jsonl", "format": "jsonl"},
        {"name": "wiki", "category": "Wiki", "weight": 7.78, "uri": "data/wiki/*.jsonl", "format": "jsonl"},
    ]
    raw["topics"]["seed_sources"] = {}
    raw["chat"]["sources"] = []
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARE_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        mp.setenv("HARE_CONFIG", str(cfg))
        assert main(["materialize", "--select", D1]) == 0
        yield home, cfg, raw, web, wiki


def wh(home: Path):
    return duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)


def lake_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.parquet")):
        h.update(p.read_bytes())
    return h.hexdigest()


def test_bad_input_accounted_removal_table_and_weights(corpus):
    home, _, _, web, wiki = corpus
    with wh(home) as con:
        # The lone surrogate cannot be stored as text: quarantined at ingestion with file and line.
        assert con.execute("select source, line, reason from raw_quarantine").fetchall() == [
            ("web", len(web) + len(BAD) + 1, "invalid_surrogates")]
        # Empty, whitespace-only and emoji-only: too short (the rejected row holds the normalized text;
        # the original stays in raw_documents under the same id).
        short = con.execute("""select r.text, w.text from d1_rejections r join raw_documents w using (id)
                               where r.reason = 'too_short'""").fetchall()
        assert sorted(w for _, w in short) == sorted(BAD[k] for k in ("empty", "whitespace", "emoji"))
        assert sorted(r for r, _ in short) == sorted(["", "", BAD["emoji"]])
        big = con.execute("select length(text), detail from d1_rejections where reason = 'oversized'").fetchall()
        assert big[0][0] > 50_000_000 and json.loads(big[0][1]) == {"chars": big[0][0], "scored": False}
        # Mixed scripts: scored like any document, and accounted for either way.
        mixed = con.execute("""select count(*) from (select text from cleaned_documents union all
                               select text from d1_rejections) where text like '%Привет%'""").fetchone()[0]
        assert mixed == 1
        # Per-source conservation: raw rows = kept + rejected, and the removal table says by which rule.
        removals = {(s, r): n for s, r, n in con.execute("select source, rule, documents from d1_removals").fetchall()}
        for source in ("web", "wiki"):
            raw = con.execute("select count(*) from raw_documents where source = ?", [source]).fetchone()[0]
            assert raw == sum(n for (s, _), n in removals.items() if s == source)
        assert removals[("wiki", "dedup:exact_duplicate")] == 1 and removals[("web", "kept")] == len(web)
        assert removals[("web", "cleaning:too_short")] == 3 and removals[("web", "cleaning:oversized")] == 1
        # Table 3 weights travel with the documents.
        assert dict(con.execute("select source, min(source_weight) from d1_documents group by 1").fetchall()) == {
            "web": 11.0, "wiki": 7.78}
        assert con.execute("select count(*) from d1_signals").fetchone()[0] == len(web) + len(BAD) + 1 + len(wiki)
    with dg.DagsterInstance.get() as instance:
        mat = instance.get_latest_materialization_event(dg.AssetKey("d1_documents")).asset_materialization
        table = mat.metadata["removals_per_source_and_rule"].value
        assert "cleaning:oversized" in table and "dedup:exact_duplicate" in table
        checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("d1_documents"), "raw_rows_conserved_per_source")])
        assert next(iter(checks.values())).event.dagster_event.event_specific_data.passed


def test_band_keys_are_stored_one_band_per_row_group(corpus):
    """What lets each dedup task read only its band's row groups."""
    home, _, raw, _, _ = corpus
    bands = lsh_params(raw["dedup"]["jaccard_threshold"], raw["dedup"]["num_perm"])[0]
    for source in ("web", "wiki"):
        groups = []
        for f in parquet_files(asset_dir(home, "minhash_signatures", source)):
            meta = pq.ParquetFile(f).metadata
            groups += [meta.row_group(i).column(1).statistics for i in range(meta.num_row_groups)]
        assert all(s.min == s.max for s in groups) and sorted(s.min for s in groups) == list(range(bands))


def test_changed_threshold_reruns_only_the_filter(corpus, monkeypatch):
    home, cfg, raw, _, _ = corpus
    from hare_assets.definitions import build_definitions

    before = build_definitions().resolve_asset_graph()
    signals_digest = lake_digest(home / "lake" / "d1_signals")
    with wh(home) as con:
        kept_before = con.execute("select count(*) from cleaned_documents").fetchone()[0]
        words = sorted(r[0] for r in con.execute(
            "select s.words from d1_signals s join cleaned_documents c using (id)").fetchall())
    assert len(set(words[:4])) == 4

    # A stricter min_words that drops the three shortest kept documents.
    raw["cleaning"]["min_words"] = words[2] + 1
    cfg.write_text(yaml.safe_dump(raw))
    after = build_definitions().resolve_asset_graph()
    version = lambda g, k: g.get(dg.AssetKey(k)).code_version  # noqa: E731
    assert version(after, "d1_signals") == version(before, "d1_signals")
    assert version(after, "cleaned_documents") != version(before, "cleaned_documents")
    with dg.DagsterInstance.get() as instance:
        # What the UI compares to call an asset's code version changed (stale).
        tag = lambda k: instance.get_latest_materialization_event(dg.AssetKey(k)).asset_materialization.tags[  # noqa: E731
            "dagster/code_version"]
        assert tag("d1_signals") == version(after, "d1_signals")
        assert tag("cleaned_documents") != version(after, "cleaned_documents")
        signal_runs = len(instance.fetch_materializations(dg.AssetKey("d1_signals"), limit=100).records)

    # The filter must not score anything: make scoring impossible, then re-run the stale assets only.
    import hare_assets.cleaning.rules as rules
    import hare_assets.cleaning.signals as signals

    def no_scoring(*a, **k):
        raise AssertionError("signals recomputed")

    for module, name in ((rules, "detect_language"), (rules, "score_batch"), (signals, "score_batch"),
                         (signals, "score_table")):
        monkeypatch.setattr(module, name, no_scoring)
    assert main(["materialize", "--select", "key:cleaned_documents or key:d1_documents"]) == 0
    assert lake_digest(home / "lake" / "d1_signals") == signals_digest
    with dg.DagsterInstance.get() as instance:
        assert len(instance.fetch_materializations(dg.AssetKey("d1_signals"), limit=100).records) == signal_runs
    with wh(home) as con:
        assert con.execute("select count(*) from cleaned_documents").fetchone()[0] == kept_before - 3
        assert con.execute("select count(*) from d1_rejections where reason = 'too_short'").fetchone()[0] >= 3 + 3
