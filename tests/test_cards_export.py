"""Dataset and model cards parse back with huggingface_hub, and `hare export` round-trips through
datasets.load_dataset and AutoModelForCausalLM, offline."""

import json

import pyarrow as pa
import pytest
from huggingface_hub import DatasetCard, ModelCard

from hare_assets.cli import main
from hare_assets.core.cards import cards_dir, dataset_card, model_card, size_category, write_card
from hare_assets.core.export import ExportError, export_checkpoint, export_dataset
from hare_assets.core.lake import write_table

LICENSES = [
    {"source": "RedPajamaC4", "part": "d1", "license": "odc-by", "documents": 3, "tokens": 60, "share": 0.6,
     "homepage": "https://huggingface.co/datasets/togethercomputer/RedPajama-Data-1T", "license_note": "C4 note"},
    {"source": "d2_synthetic", "part": "d2_synthetic", "license": "other", "documents": 2, "tokens": 40, "share": 0.4,
     "homepage": None, "license_note": "synthetic"},
]
SCORES = [{"run": "r1", "benchmark": "gsm8k", "metric": "exact_match,strict-match", "value": 0.25, "stderr": None,
           "n_items": 8, "n_items_full": 1319, "subset": True, "few_shot": 5, "split": "test"},
          {"run": "r1", "benchmark": "arc_challenge", "metric": "acc_norm", "value": 0.5, "stderr": 0.1,
           "n_items": 1172, "n_items_full": 1172, "subset": False, "few_shot": 25, "split": "test"}]


@pytest.fixture()
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 12_345, 2_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]


def test_dataset_card_parses_back_with_licenses_and_counts(tmp_path):
    card = dataset_card(name="HARE test", summary="What it is.", rows=1234, licenses=["odc-by", "other"],
                        source_rows=LICENSES, sections=[("Counts", "1,300 in, 1,234 kept")])
    back = DatasetCard.load(write_card(card, tmp_path))
    assert back.data.license == ["odc-by", "other"] and back.data.size_categories == ["1K<n<10K"]
    assert back.data.source_datasets == ["extended|togethercomputer/RedPajama-Data-1T", "original"]
    assert back.data.task_categories == ["text-generation"]
    assert "1,234 kept" in back.text and "| RedPajamaC4 | d1 | odc-by | 3 | 60 | 0.6 |" in back.text
    assert "odc-by 60.0%" in back.text and "C4 note" in back.text


def test_model_card_has_licenses_lineage_and_scores_with_item_counts():
    info = {"run": "r1", "preset": "tiny", "parts": ["d1", "d2_synthetic"], "mix_tokens": 100, "licenses": LICENSES,
            "run_config": {"lr": 0.01, "shards_dir": "/x/shards"}, "shards_data_version": "abc123"}
    without = ModelCard(str(model_card(info)))
    assert without.data.license == "other" and "hare export checkpoints --run RUN" in without.text
    assert "abc123" in without.text and "odc-by" in without.text
    card = ModelCard(str(model_card(info, SCORES)))
    results = {r.dataset_name: r.metric_value for r in card.data.eval_results}
    assert results == {"gsm8k": 0.25, "arc_challenge": 0.5}
    assert "| gsm8k | exact_match,strict-match | 0.25 |  | 8 | 1319 | True | 5 | test |" in card.text
    assert "not comparable with published numbers" in card.text


def small_lake(home):
    table = pa.table({"id": [f"d{i}" for i in range(30)], "source": ["RedPajamaC4"] * 30,
                      "text": [f"document {i}" for i in range(30)]})
    write_table(home / "lake" / "d1_documents", table.slice(0, 20))
    # a second file, as a lake folder of several parts
    import pyarrow.parquet as pq
    pq.write_table(table.slice(20), home / "lake" / "d1_documents" / "part-00001.parquet")
    card = dataset_card(name="HARE D1 documents", summary="s", rows=30, licenses=["odc-by"],
                        source_rows=LICENSES[:1], sections=[])
    write_card(card, cards_dir(home, "d1_documents"))
    return table


def test_export_dataset_round_trips_through_load_dataset(tmp_path, offline):
    import datasets

    home = tmp_path / "home"
    table = small_lake(home)
    out = tmp_path / "export"
    export_dataset(home, "d1_documents", out)
    ds = datasets.load_dataset("parquet", data_dir=str(out), cache_dir=str(tmp_path / "cache"))
    assert list(ds) == ["train"] and ds["train"].num_rows == 30
    assert sorted(ds["train"]["id"]) == sorted(table["id"].to_pylist())
    assert DatasetCard.load(out / "README.md").data.license == ["odc-by"]
    with pytest.raises(ExportError, match="not empty"):
        export_dataset(home, "d1_documents", out)
    with pytest.raises(ExportError, match="materialize"):
        export_dataset(home, "training_mix", tmp_path / "x", run="stage1")


def tiny_checkpoint(home, run):
    from transformers import MistralConfig, MistralForCausalLM

    config = MistralConfig(vocab_size=128, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    final = home / "checkpoints" / run / "final"
    MistralForCausalLM(config).save_pretrained(final)
    (final / "trainer_state.json").write_text(json.dumps({"step": 1}))
    folder = cards_dir(home, "checkpoints", run)
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps({"run": run, "preset": "tiny", "licenses": LICENSES,
                                                  "run_config": {"lr": 0.01}, "shards_data_version": "v1"}))


def test_export_checkpoint_loads_and_its_card_takes_the_latest_scores(tmp_path, offline, monkeypatch):
    from transformers import AutoModelForCausalLM

    home = tmp_path / "home"
    tiny_checkpoint(home, "r1")
    monkeypatch.setenv("HARE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    assert main(["export", "checkpoints", str(tmp_path / "no_run")]) == 1  # --run is required
    assert main(["export", "checkpoints", str(tmp_path / "m1"), "--run", "r1"]) == 0
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m1")
    assert model.config.model_type == "mistral" and (tmp_path / "m1" / "trainer_state.json").is_file()
    assert ModelCard.load(tmp_path / "m1" / "README.md").data.eval_results is None
    # benchmark_scores materialized afterwards: the next export's card carries them
    write_table(home / "lake" / "benchmark_scores" / "r1", pa.Table.from_pylist(SCORES))
    export_checkpoint(home, "r1", tmp_path / "m2")
    card = ModelCard.load(tmp_path / "m2" / "README.md")
    assert {r.dataset_name for r in card.data.eval_results} == {"gsm8k", "arc_challenge"}
    assert "| 1172 | 1172 | False |" in card.text and card.data.license == "other"
    assert ModelCard.load(cards_dir(home, "checkpoints", "r1") / "README.md").data.eval_results  # refreshed


def test_cli_exports_a_dataset(tmp_path, offline, monkeypatch):
    home = tmp_path / "home"
    small_lake(home)
    monkeypatch.setenv("HARE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    assert main(["export", "d1_documents", str(tmp_path / "ds")]) == 0
    assert len(list((tmp_path / "ds" / "data").glob("train-*.parquet"))) == 2


class StandInHub:
    """The few Hub endpoints `HfApi.create_repo` + `upload_folder` call, on localhost: every file is
    uploaded inline ("regular" mode), and each commit's files are kept for the test to read."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        hub = self
        self.commits, self.tokens = [], set()

        class Handler(BaseHTTPRequestHandler):
            def _send(self, obj, code=200):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send({}, 404)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.tokens.add(self.headers.get("Authorization"))
                if self.path == "/api/repos/create":
                    req = json.loads(body)
                    return self._send({"url": f"{hub.endpoint}/{req['type']}s/{req['organization']}/{req['name']}"})
                if self.path.startswith("/api/validate-yaml"):
                    return self._send({"errors": [], "warnings": []})
                if "/preupload/" in self.path:
                    return self._send({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                 for f in json.loads(body)["files"]]})
                if "/commit/" in self.path:
                    import base64

                    lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
                    hub.commits.append((self.path, {x["value"]["path"]: base64.b64decode(x["value"]["content"])
                                                    for x in lines if x["key"] == "file"}))
                    repo = self.path[len("/api/"):].split("/commit/")[0]  # datasets/me/name
                    return self._send({"commitUrl": f"{hub.endpoint}/{repo}/commit/{'a' * 40}", "commitOid": "a" * 40})
                self._send({}, 404)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture()
def stand_in_hub(monkeypatch):
    hub = StandInHub()
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_stand_in_token")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield hub
    hub.stop()


def test_push_uploads_the_export_to_a_stand_in_hub(tmp_path, monkeypatch, stand_in_hub):
    import huggingface_hub.constants as constants

    # huggingface_hub reads HF_ENDPOINT at import: point its constant at the stand-in too.
    monkeypatch.setattr(constants, "ENDPOINT", stand_in_hub.endpoint)
    home = tmp_path / "home"
    small_lake(home)
    monkeypatch.setenv("HARE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    assert main(["export", "d1_documents", str(tmp_path / "ds"), "--push", "me/hare-d1"]) == 0
    (path, files), = stand_in_hub.commits
    assert path == "/api/datasets/me/hare-d1/commit/main"
    assert sorted(files) == ["README.md", "data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"]
    assert b"odc-by" in files["README.md"] and "Bearer hf_stand_in_token" in stand_in_hub.tokens
