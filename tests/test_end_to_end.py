"""The whole graph on the embedded sample through the real `hare materialize`, then what it produced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]


def hare_materialize(home: Path, *args: str, timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "HARE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    env.pop("HARE_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "hare_assets.cli", "materialize", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e") / "hare"
    return home, hare_materialize(home, timeout=1500)


@pytest.fixture(scope="module")
def synthesis_rerun(run):
    """D2 and D3 materialized a second time, before the tests hold the warehouse open."""
    home, proc = run
    return hare_materialize(home, "--select", "key:d2_documents or key:d3_samples", timeout=600) \
        if proc.returncode == 0 else None


@pytest.fixture(scope="module")
def wh(run, synthesis_rerun):
    home, proc = run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    yield con
    con.close()


def q(con, sql):
    return con.execute(sql).fetchall()


def manifest(home: Path) -> dict:
    return json.loads((home / "sample" / "MANIFEST.json").read_text())


def test_every_asset_materialized(run, wh):
    home, proc = run
    from hare_assets.definitions import build_definitions

    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    graph = build_definitions().resolve_asset_graph()
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        for key in graph.get_all_asset_keys():
            pdef = graph.get(key).partitions_def
            if pdef is None:
                assert instance.get_latest_materialization_event(key) is not None, key
            else:
                done = instance.get_materialized_partitions(key)
                assert done == set(pdef.get_partition_keys()), (key, set(pdef.get_partition_keys()) - done)
    assert "all" in proc.stdout and "runs succeeded" in proc.stdout


def test_warehouse_has_a_relation_per_table_like_asset(wh):
    names = {r[0] for r in q(wh, "select table_name from information_schema.tables")}
    assert {"raw_documents", "raw_quarantine", "d1_signals", "cleaned_documents", "d1_documents", "d1_rejections",
            "d1_removals",
            "topic_clusters", "synthesis_seeds", "d2_documents", "d3_samples", "d3_rejections", "benchmark_ngrams",
            "decontaminated_documents", "decontamination_rejections", "contamination_report", "training_mix",
            "mix_report", "tokenized_shards", "benchmark_scores", "leakage_scores", "source_stats",
            "token_budget", "leaderboard", "contamination_summary", "request_cache", "chat_sft_samples",
            "chat_sft_rejections"} <= names


def test_ingestion_accounts_for_every_record(run, wh):
    home, _ = run
    m = manifest(home)
    per_source = dict(q(wh, """select source, count(*) from (select source from raw_documents union all
                               select source from raw_quarantine) group by 1"""))
    assert per_source == {name: s["records"] for name, s in m["sources"].items()}
    malformed = [p for p in m["planted"] if p["kind"] == "malformed"]
    got = set(q(wh, "select source, reason from raw_quarantine"))
    assert {(p["source"], p["reason"]) for p in malformed} <= got


def test_d1_conservation_and_cleaning(wh):
    raw_d1 = q(wh, "select count(*) from raw_documents where part = 'd1'")[0][0]
    cleaned = q(wh, "select count(*) from cleaned_documents")[0][0]
    rejected_cleaning = q(wh, "select count(*) from d1_rejections where stage = 'cleaning'")[0][0]
    assert raw_d1 == cleaned + rejected_cleaning
    d1 = q(wh, "select count(*) from d1_documents")[0][0]
    assert cleaned == d1 + q(wh, "select count(*) from d1_rejections where stage = 'dedup'")[0][0]
    reasons = dict(q(wh, "select reason, count(*) from d1_rejections group by 1"))
    assert reasons.get("not_english", 0) >= 5 and reasons.get("exact_duplicate", 0) >= 6
    assert reasons.get("near_duplicate", 0) >= 3 and reasons.get("incomplete_ending", 0) >= 3
    assert q(wh, r"select count(*) from d1_documents where regexp_matches(text, '[\w.]+@[\w-]+\.\w+')")[0][0] == 0
    assert q(wh, "select count(*) from d1_documents where text like '%<EMAIL>%'")[0][0] > 0
    assert q(wh, "select count(*) from d1_documents where text like '%http://%' or text like '%https://%'")[0][0] == 0
    assert q(wh, "select count(distinct source) from d1_documents")[0][0] >= 15
    assert q(wh, "select min(source_weight) > 0 from d1_documents")[0][0]
    # Table 3 weights travel with the documents; the removal table accounts for every raw row per source.
    from hare_assets.core.settings import PACKAGED_CONFIG, parse_settings

    weights = {s.name: s.weight for s in parse_settings(PACKAGED_CONFIG).d1_sources}
    assert all(w == weights[s] for s, w in q(wh, "select distinct source, source_weight from d1_documents"))
    assert q(wh, "select count(*) from d1_signals")[0][0] == raw_d1
    raw_per_source = dict(q(wh, "select source, count(*) from raw_documents where part = 'd1' group by 1"))
    assert dict(q(wh, "select source, sum(documents) from d1_removals group by 1")) == raw_per_source


def test_planted_exact_duplicates_keep_one_copy(run, wh):
    home, _ = run
    dup_texts = q(wh, """select text, count(*) from d1_documents group by 1 having count(*) > 1""")
    assert dup_texts == []


def test_topics_and_synthesis(wh):
    clusters = q(wh, "select count(distinct cluster), count(*) from topic_clusters")[0]
    assert clusters[0] >= 4 and clusters[1] >= 20
    assert q(wh, "select count(*) from synthesis_seeds")[0][0] > 0
    parts = dict(q(wh, "select mix_part, count(*) from d2_documents group by 1"))
    assert parts["d2_synthetic"] == q(wh, "select count(*) from synthesis_seeds")[0][0] and parts["d2_open"] > 0
    d3 = dict(q(wh, "select mix_part, count(*) from d3_samples group by 1"))
    assert d3.get("d3_open", 0) > 0
    assert q(wh, "select count(*) from request_cache")[0][0] >= parts["d2_synthetic"]
    seeds = dict(q(wh, "select category, count(*) from synthesis_seeds group by 1"))
    assert set(seeds) == {"Web", "Wiki", "News", "Academic", "Books", "Law", "Code", "Math"}
    assert seeds["Wiki"] > seeds["Law"] > 0  # Table 4 shares: Wiki 8.16 > Law 2.16


def test_decontamination_removes_planted_quotes(run, wh):
    home, _ = run
    planted = [p for p in manifest(home)["planted"] if p["kind"] == "contamination"]
    removed = q(wh, """select mix_part, benchmark, item_id, repetition_rate, example_ngram
                       from decontamination_rejections where reason = 'benchmark_overlap'""")
    assert len(removed) >= 3
    assert all(rate > 0.5 and bench and item and gram for _, bench, item, rate, gram in removed)
    checked = q(wh, "select sum(documents_checked) from contamination_report where benchmark = 'gsm8k'")[0][0]
    total = q(wh, "select (select count(*) from decontaminated_documents) + (select count(*) from decontamination_rejections)")[0][0]
    assert checked == total
    assert len(planted) >= 6


def test_mix_shards_checkpoints_scores(run, wh):
    home, _ = run
    budget = dict(q(wh, "select part, realized_pct from token_budget where run = 'stage2' and level = 'part'"))
    assert set(budget) == {"d1", "d2_synthetic", "d2_open", "d3_restruct", "d3_open"}
    assert q(wh, "select count(distinct part) from training_mix where run = 'stage1'") == [(1,)]
    for run_name in ("stage1", "stage2", "abl_d1", "abl_d1_d2", "abl_d1_d2_d3"):
        man = json.loads((home / "lake" / "tokenized_shards" / run_name / "manifest.json").read_text())
        assert man["total_sequences"] > 0 and man["seq_len"] == 256
        assert (home / "checkpoints" / run_name / "final" / "config.json").exists()
    scores = q(wh, "select run, benchmark, value from benchmark_scores")
    assert len(scores) == 6 * 6 and all(0.0 <= v <= 1.0 for _, _, v in scores)
    board = q(wh, "select origin, count(*) from leaderboard group by 1 order by 1")
    assert board == [("paper Table 1", 10), ("paper Table 7", 3), ("this platform", 6)]
    assert q(wh, "select average from leaderboard where model = 'HARE 1.1B chat'") == [(40.0,)]
    # The sample's runs are scored on a few items a task: a subset, never ranked among the paper's rows.
    runs = q(wh, "select rank, subset, note, items_scored < items_full from leaderboard where origin = 'this platform'")
    assert {(r[0], r[1], r[3]) for r in runs} == {(None, True, True)} and all("not ranked" in r[2] for r in runs)
    assert q(wh, "select count(rank), max(rank) from leaderboard where origin like 'paper%'") == [(13, 13)]
    detail = q(wh, "select count(*), count(*) filter (where subset), count(rank) from leaderboard_tasks")[0]
    assert detail == (19 * 6, 6 * 6, 13 * 6)
    scored = q(wh, "select min(n_items), bool_and(n_items < n_items_full), bool_and(subset) from benchmark_scores")[0]
    assert scored[0] >= 1 and scored[1:] == (True, True)
    leak = q(wh, "select count(*), count(distinct benchmark) from leakage_scores where run = 'stage2'")[0]
    assert leak[0] >= 6 and leak[1] == 6
    # Items per split against the split's size; a delta with a standard error is marked when within it.
    splits = q(wh, """select bool_and(n_original <= n_in_split), bool_and(subset = (n_original < n_in_split)),
                      bool_and(n_scored_original <= n_original),
                      bool_and(delta_stderr is null or delta_within_error = (abs(delta) < 1.96 * delta_stderr))
                      from leakage_scores""")[0]
    assert splits == (True, True, True, True)


def test_chat_chain(run, wh):
    """Appendix C.1 on the sample: conversations from four sources, decontaminated with the mix, packed
    with a loss mask, fine-tuned from stage2, scored."""
    home, _ = run
    sources = dict(q(wh, "select source, count(*) from chat_sft_samples group by 1"))
    assert set(sources) == {"dolly", "autocot", "metamathqa", "ultrachat200k"}
    raw = q(wh, "select count(*) from raw_documents where source in ('dolly', 'autocot', 'metamathqa', 'ultrachat200k')")
    assert raw[0][0] == sum(sources.values()) + q(wh, "select count(*) from chat_sft_rejections")[0][0]
    assert q(wh, "select count(*) from chat_sft_samples where messages like '%\"role\": \"system\"%'")[0][0] \
        == sum(sources.values())
    assert q(wh, "select max(len(json_extract(messages, '$[*]'))) from chat_sft_samples where source = 'ultrachat200k'")[0][0] > 3
    # The planted MetaMathQA copy of GSM8K test:3 is removed as part chat.
    removed = set(q(wh, """select source, benchmark, item_id from decontamination_rejections
                           where mix_part = 'chat' and reason = 'benchmark_overlap'"""))
    assert ("metamathqa", "gsm8k", "test/test:3") in removed
    assert q(wh, "select sum(removed) from contamination_report where part = 'chat'")[0][0] >= 1
    man = json.loads((home / "lake" / "tokenized_shards" / "chat" / "manifest.json").read_text())
    assert man["loss_mask"] and man["chat_template"] == "hare-chat-v1" and man["label_tokens"] > 0
    assert man["too_long_samples"] == 0 and man["total_sequences"] > 0
    final = home / "checkpoints" / "chat" / "final"
    state = json.loads((final / "trainer_state.json").read_text())
    assert state["chat_template"] == "hare-chat-v1" and state["init_from"].endswith("checkpoints/stage2/final")
    assert (final / "chat_template.jinja").is_file()
    assert len(q(wh, "select * from benchmark_scores where run = 'chat'")) == 6
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        def latest(run_name):
            return instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("checkpoints"), asset_partitions=[run_name]), limit=1).records[0].asset_materialization
        # Lineage to the exact base checkpoint: stage2's data version (its content hash).
        assert latest("chat").metadata["init_from_data_version"].value == latest("stage2").tags["dagster/data_version"]


def test_training_evaluation_and_ablation(run, wh):
    home, _ = run
    # The tiny preset learns from the sample's stage1 shards (trained through Pipes).
    losses = [json.loads(line)["loss"] for line in (home / "checkpoints" / "stage1" / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 20 and sum(losses[-3:]) / 3 < losses[0] - 0.5
    metrics = dict(q(wh, "select benchmark, metric from benchmark_scores where run = 'stage1'"))
    assert metrics == {"mmlu": "acc", "arc_challenge": "acc_norm", "truthfulqa": "mc2", "winogrande": "acc",
                       "hellaswag": "acc_norm", "gsm8k": "exact_match_strict"}
    assert (home / "evaluation" / "stage1" / "lm_eval_results.json").is_file()
    assert q(wh, "select distinct backend, data from benchmark_scores") == [("hf", "local")]
    # Leakage: gsm8k rephrased through the synthesis backend, once for all five runs (request cache).
    by = dict(q(wh, "select benchmark, any_value(rephrased_by) from leakage_scores group by 1"))
    assert by["gsm8k"].startswith("transformers:") and by["arc_challenge"] == "file"
    assert q(wh, "select min(delta_pct - 100 * delta), max(delta_pct - 100 * delta) from leakage_scores")[0] == (0.0, 0.0)
    from hare_assets.evaluation.rephrase import TEMPLATE_SHA256
    gsm8k_items = q(wh, "select max(n_original) from leakage_scores where benchmark = 'gsm8k'")[0][0]
    assert q(wh, f"select count(*) from request_cache where template = '{TEMPLATE_SHA256}'")[0][0] == gsm8k_items
    arms = q(wh, "select run, count(*) from ablation_scores group by 1 order by 1")
    assert arms == [("abl_d1", 7), ("abl_d1_d2", 7), ("abl_d1_d2_d3", 7)]
    assert q(wh, "select count(*) from ablation_scores where run = 'abl_d1' and gain_over_d1 <> 0")[0][0] == 0
    # Each gain with its error; the baseline's own gain has none.
    errors = q(wh, """select run = 'abl_d1', bool_and(gain_stderr is null), bool_and(subset) from ablation_scores
                      group by 1 order by 1""")
    assert errors == [(False, False, True), (True, True, True)]
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        inits = set()
        for arm in ("abl_d1", "abl_d1_d2", "abl_d1_d2_d3"):
            mat = instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("checkpoints"), asset_partitions=[arm]), limit=1).records[0].asset_materialization
            inits.add(mat.metadata["init_weights_sha256"].value)
            assert mat.metadata["tokens_seen"].value == 10 * 4 * 256 and mat.metadata["tokens_per_s"].value > 0
            assert "data:image/png;base64," in mat.metadata["loss_curve"].value
            assert mat.metadata["dagster_run"].value
        assert len(inits) == 1  # identical init across the arms


def test_checkpoint_lineage_to_its_shards(run):
    home, _ = run
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("checkpoints"), asset_partitions=["stage2"]), limit=1).records
        mat = records[0].asset_materialization
        shards = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("tokenized_shards"), asset_partitions=["stage2"]), limit=1).records
        shard_version = shards[0].asset_materialization.tags["dagster/data_version"]
    assert mat.metadata["tokenized_shards_data_version"].value == shard_version
    # Dagster's own provenance points at the exact shards materialization the checkpoint read.
    assert mat.tags["dagster/input_event_pointer/tokenized_shards"] == str(shards[0].storage_id)
    assert mat.tags["dagster/data_version"] == mat.metadata["checkpoint_sha256"].value
    assert mat.metadata["final_loss"].value > 0


def test_second_synthesis_materialization_is_all_cache_hits(run, synthesis_rerun):
    """Re-materializing D2 and D3 sends no request to the backend."""
    home, _ = run
    assert synthesis_rerun.returncode == 0, synthesis_rerun.stdout[-3000:] + synthesis_rerun.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        for asset in ("d2_documents", "d3_samples"):
            meta = instance.get_latest_materialization_event(dg.AssetKey(asset)).asset_materialization.metadata
            assert meta["requests"].value > 0 and meta["requests_sent"].value == 0, asset
            assert meta["cache_hits"].value == meta["requests"].value and meta["cache_hit_rate"].value == 1.0


def test_licenses_cards_and_export(run, wh, tmp_path):
    """Every source in a mix carries its license and token share (manifest, training_mix, checkpoints);
    each dataset asset and checkpoint has a card; `hare export` round-trips the sample's outputs."""
    from huggingface_hub import DatasetCard, ModelCard

    from hare_assets.core.export import export_checkpoint, export_dataset

    home, _ = run
    man = json.loads((home / "lake" / "tokenized_shards" / "stage2" / "manifest.json").read_text())
    assert sum(v["share"] for v in man["sources"].values()) == pytest.approx(1.0)
    assert man["sources"]["RedPajamaC4"]["license"] == "odc-by" and man["sources"]["dolly"]["license"] == "cc-by-sa-3.0"
    assert man["sources"]["d2_synthetic"]["license"] == "other"
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        def latest(asset, partition):
            return instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1).records[0].asset_materialization
        mix, ckpt = latest("training_mix", "stage2"), latest("checkpoints", "stage2")
    for mat in (mix, ckpt):
        shares = mat.metadata["source_licenses"].value
        assert sum(v["share"] for v in shares.values()) == pytest.approx(1.0)
        assert {k: v["license"] for k, v in shares.items()} == {k: v["license"] for k, v in man["sources"].items()}
        assert "odc-by" in mat.metadata["licenses"].value
    assert mix.metadata["card"].value.strip().startswith("# HARE training mix (stage2)")
    assert ckpt.metadata["card"].value.strip().startswith("# hare-stage2")
    for asset in ("d1_documents", "d2_documents", "d3_samples", "decontaminated_documents"):
        card = DatasetCard.load(home / "cards" / asset / "README.md")
        assert card.data.license and card.data.size_categories and "## Counts" in card.text, asset
    assert "odc-by" in DatasetCard.load(home / "cards" / "d1_documents" / "README.md").data.license
    assert "Decontamination report" in (home / "cards" / "decontaminated_documents" / "README.md").read_text()
    mix_card = DatasetCard.load(home / "cards" / "training_mix" / "stage2" / "README.md")
    rows = q(wh, "select count(*) from training_mix where run = 'stage2'")[0][0]
    assert f"{rows:,} rows" in mix_card.text and "## The mix" in mix_card.text
    # Exports: the mix as a dataset, the checkpoint as a model whose card now has the scores.
    import datasets
    from transformers import AutoModelForCausalLM

    export_dataset(home, "training_mix", tmp_path / "mix", run="stage2")
    ds = datasets.load_dataset("parquet", data_dir=str(tmp_path / "mix"), cache_dir=str(tmp_path / "cache"))
    assert ds["train"].num_rows == rows
    export_checkpoint(home, "stage2", tmp_path / "model")
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "model").config.model_type == "mistral"
    card = ModelCard.load(tmp_path / "model" / "README.md")
    assert len(card.data.eval_results) == 6 and "n_items" in card.text


def test_api_calling_chain(run, wh):
    """Samples per API with Table 8's split sizes, the tool run with its functional tokens, per-API scores beside
    Table 8, and the GGUF files read back with their quantized tensors."""
    home, _ = run
    splits = dict(((a, s), n) for a, s, n in q(wh, "select api, split, count(*) from api_calling_samples group by all"))
    assert splits[("make_phone_call", "train")] == 690 and splits[("send_email", "train")] == 810
    assert all(splits[(a, "test")] == 50 for a, _ in splits)
    assert q(wh, """select count(*) from api_calling_samples a join api_calling_samples b using (query)
                    where a.split = 'train' and b.split = 'test'""") == [(0,)]
    assert q(wh, "select count(*) from api_calling_rejections where origin = 'llm'") == [(14,)]  # 2 a API, noise
    tokens = json.loads((home / "checkpoints" / "tool" / "final" / "tokenizer.json").read_text())["added_tokens"]
    assert {t["content"]: t["id"] for t in tokens if t["content"].startswith("<fn_")} == {
        **{f"<fn_{k}>": 32000 + k for k in range(7)}, "<fn_end>": 32007}
    scores = q(wh, """select api, paper_api, items, tool_accuracy_pct, rag_accuracy_pct, paper_tool_accuracy_pct,
                      paper_rag_accuracy_pct from api_calling_scores order by paper_api""")
    assert [r[1] for r in scores] == [f"API-{k}" for k in range(7)] and all(r[2] == 10 for r in scores)
    assert all(r[3] is not None and r[4] is not None for r in scores)
    assert [r[5] for r in scores] == [91.7, 100, 100, 100, 100, 100, 95]
    gguf = {r[0]: r for r in q(wh, "select type, tensor_types, prompts, greedy_prefix_agreement from quantized_checkpoints")}
    assert set(gguf) == {"Q4_0", "Q8_0"} and json.loads(gguf["Q4_0"][1])["Q4_0"] == 16 and gguf["Q8_0"][2] == 70
