"""Faults while the writing stages run, on a tiny corpus: a SIGKILL at a point the test controls (a
staged Parquet part half written, or a lake commit half swapped), a full disk, and the warehouse held
open by a reader. Afterwards the lake and warehouse hold the complete previous version (never a mix),
and a re-run gives what an undisturbed run gave."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from hare_assets.cli import main
from hare_assets.core.lake import STAGING, asset_dir, recover_lake, write_table
from hare_assets.core.schemas import DOCUMENT_SCHEMA

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from synthetic_corpus import clean_texts  # noqa: E402  (deterministic English prose)

# (asset, partition, the lake folders it writes, the warehouse views it publishes)
STAGES = [
    ("raw_documents", "web", ["raw_documents/web", "raw_quarantine/web"], ["raw_documents", "raw_quarantine"]),
    ("d1_signals", "web", ["d1_signals/web", "minhash_signatures/web"], ["d1_signals"]),
    ("d1_documents", None, ["d1_documents", "d1_rejections/dedup"], ["d1_documents", "d1_rejections"]),
    ("decontaminated_documents", None, ["decontaminated_documents", "decontamination_rejections"],
     ["decontaminated_documents", "decontamination_rejections"]),
    ("tokenized_shards", "stage1", ["tokenized_shards/stage1", "shard_manifests/stage1"], ["tokenized_shards"]),
]


def write_config(root: Path, data: Path) -> Path:
    raw = yaml.safe_load((REPO / "hare_assets" / "default_config.yaml").read_text())
    raw["sources"] = [
        {"name": "web", "category": "C4", "weight": 11.0, "uri": str(data / "web" / "*.jsonl"), "format": "jsonl"},
        {"name": "wiki", "category": "Wiki", "weight": 7.78, "uri": str(data / "wiki" / "*.jsonl"), "format": "jsonl"},
    ]
    raw["topics"]["seed_sources"] = {}
    raw["chat"]["sources"] = []
    raw["tool"]["training"] = None  # no tool fine-tune: there is no stage2 to continue from
    raw["mixture"]["runs"] = {"stage1": {"parts": ["d1"], "token_budget": 3000}}
    raw["training"]["runs"] = {"stage1": raw["training"]["runs"]["stage1"]}
    raw["training"]["ablation_arms"] = []
    cfg = root / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    return cfg


def write_corpus(data: Path) -> None:
    wiki = clean_texts(6, start=500)
    for name, texts in (("web", clean_texts(10) + wiki[:1]), ("wiki", wiki)):  # one cross-source duplicate
        (data / name).mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"text": t}) for t in texts] + ['{"text": "cut']
        (data / name / "a.jsonl").write_text("\n".join(lines) + "\n")


def child_env(home: Path, cfg: Path, **extra: str) -> dict:
    return {**os.environ, "HARE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "HARE_CONFIG": str(cfg),
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), **extra}


def materialize_args(asset: str, partition: str | None) -> list[str]:
    return ["materialize", "--select", asset, *(["--partition", partition] if partition else [])]


def kill_at(point: str, env: dict, args: list[str], marker: Path, timeout: float = 180) -> None:
    """Start the child, wait for it to reach `point` (the marker appears), SIGKILL its process group
    (the child and what it launched)."""
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "fault_child.py"), *args], cwd=REPO,
                            env={**env, "HARE_FAULT_POINT": point, "HARE_FAULT_MARKER": str(marker)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not (marker.exists() if point != "training" else any(marker.glob("checkpoint-*/trainer_state.json"))):
            if proc.poll() is not None:
                raise AssertionError(f"child ended before {point}: {proc.stdout.read()[-3000:]}")
            assert time.monotonic() < deadline, f"timed out waiting for {point}"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    if marker.is_file():
        marker.unlink()


def folder_rows(folder: Path) -> list:
    """What a reader sees of a lake folder: its rows (Parquet) or its file bytes (shards)."""
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    if any(p.suffix == ".parquet" for p in files):
        rows = [r for p in files for r in pq.read_table(p).to_pylist()]
        return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    return [(p.name, p.read_bytes()) for p in files]


def snapshot(home: Path, folders: list[str], views: list[str]) -> dict:
    lake = home / "lake"
    state = {f: folder_rows(lake / f) for f in folders}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        for view in views:
            state[f"view:{view}"] = con.execute(f'SELECT count(*) FROM "{view}"').fetchone()[0]
    return state


def staging_left(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in (home / "lake").rglob(f"{STAGING}/*"))


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """The tiny corpus materialized once through D1, decontamination, the stage1 mix and its shards."""
    root = tmp_path_factory.mktemp("faults")
    home, data = root / "hare", root / "data"
    (home / "dagster").mkdir(parents=True)
    write_corpus(data)
    cfg = write_config(root, data)
    # D2 / D3 / the chat conversations stand in as one document each: decontamination reads every part.
    for asset, part, mix_part in (("d2_documents", "d2", "d2_open"), ("d3_samples", "d3", "d3_open"),
                                  ("chat_sft_samples", "chat", "chat")):
        doc = {"id": f"{asset}-0", "source": asset, "category": "x", "part": part, "meta": "{}",
               "text": " ".join(clean_texts(3, start=900)), "mix_part": mix_part}
        write_table(asset_dir(home, asset), pa.Table.from_pylist(
            [doc], schema=pa.schema([*DOCUMENT_SCHEMA, ("mix_part", pa.string())])))
    with pytest.MonkeyPatch.context() as mp:
        for k, v in child_env(home, cfg).items():
            mp.setenv(k, v)
        assert main(["materialize", "--select", "group:sources or group:d1 or key:benchmark_ngrams or "
                     "key:decontaminated_documents or key:training_mix or key:tokenized_shards or "
                     "key:checkpoints"]) == 0
        yield home, cfg, root


@pytest.mark.parametrize("asset,partition,folders,views", STAGES, ids=[s[0] for s in STAGES])
def test_kill_while_writing_keeps_previous_version_and_rerun_is_identical(graph, asset, partition, folders, views):
    home, cfg, root = graph
    before = snapshot(home, folders, views)
    assert all(before[f] for f in folders)
    kill_at("writing", child_env(home, cfg), materialize_args(asset, partition), root / "marker")
    # The killed run's staged part is invisible: every folder and view is exactly the previous version.
    assert snapshot(home, folders, views) == before
    assert any(".tmp-" in p for p in staging_left(home))  # ... and its half-written part is still in staging
    with pytest.MonkeyPatch.context() as mp:
        for k, v in child_env(home, cfg).items():
            mp.setenv(k, v)
        assert main(materialize_args(asset, partition)) == 0
    assert snapshot(home, folders, views) == before  # identical to the undisturbed run
    assert staging_left(home) == []  # the dead run's staging is gone


def test_kill_while_training_keeps_previous_checkpoint_and_resumed_run_is_identical(graph):
    home, cfg, root = graph
    run = home / "checkpoints" / "stage1"
    before = {p.relative_to(run): p.read_bytes() for p in (run / "final").rglob("*") if p.is_file()}
    assert any(p.suffix == ".safetensors" for p in before)
    listing = sorted(p.name for p in run.iterdir())
    # Killed once the trainer saved its first checkpoint (in its staging folder).
    staging = home / "checkpoints" / STAGING / "stage1"
    kill_at("training", child_env(home, cfg), materialize_args("checkpoints", "stage1"), staging)
    assert {p.relative_to(run): p.read_bytes() for p in (run / "final").rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in run.iterdir()) == listing and not (staging / "final").exists()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in child_env(home, cfg).items():
            mp.setenv(k, v)
        assert main(materialize_args("checkpoints", "stage1")) == 0  # resumes from the staged checkpoint
    after = {p.relative_to(run): p.read_bytes() for p in (run / "final").rglob("*") if p.is_file()}
    assert after == before  # the same weights, tokenizer and trainer state as the undisturbed run
    assert not staging.exists()


def test_kill_inside_a_commit_is_rolled_forward_at_the_next_run(graph):
    home, cfg, root = graph
    folders, views = ["raw_documents/wiki", "raw_quarantine/wiki"], ["raw_documents", "raw_quarantine"]
    before = snapshot(home, folders, views)
    kill_at("swapping", child_env(home, cfg), materialize_args("raw_documents", "wiki"), root / "marker")
    # Killed between the two folders' swaps: the journal is there, the next run (recover_lake) finishes it.
    assert any(p.endswith(".json") and "commit-" in p for p in staging_left(home))
    recover_lake(home)
    assert snapshot(home, folders, views) == before and staging_left(home) == []


def test_disk_full_fails_naming_the_path_and_keeps_the_previous_version(tmp_path):
    data, home = tmp_path / "data", tmp_path / "small"
    write_corpus(data)
    cfg = write_config(tmp_path, data)
    home.mkdir()
    dagster_home = tmp_path / "dagster"  # the instance stays on the big disk: HARE_HOME is the small one
    dagster_home.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(home)],
                             capture_output=True).returncode == 0
    how = "tmpfs of 4 MiB" if mounted else "RLIMIT_FSIZE of 4 MiB"
    print(f"disk full through a {how}")
    try:
        env = {**child_env(home, cfg), "DAGSTER_HOME": str(dagster_home), "HARE_FAULT_FSIZE": str(4 << 20)}
        args = materialize_args("raw_documents", "web")
        with pytest.MonkeyPatch.context() as mp:  # the previous version, written in this process
            for k, v in env.items():
                mp.setenv(k, v)
            assert main(args) == 0
        folders, views = ["raw_documents/web", "raw_quarantine/web"], ["raw_documents"]
        before = snapshot(home, folders, views)
        # The source grows past the space left: 8 MB of text that does not compress.
        noise = os.urandom(6 << 20).hex()
        with open(data / "web" / "a.jsonl", "a") as f:
            for i in range(0, len(noise), 1 << 20):
                f.write(json.dumps({"text": noise[i:i + (1 << 20)]}) + "\n")
        cmd = [sys.executable, str(REPO / "tests" / "fault_child.py"), *args] if not mounted else \
            [sys.executable, "-m", "hare_assets.cli", *args]
        full = subprocess.run(cmd, cwd=REPO, env={**env, "HARE_FAULT_POINT": "nospace"}, capture_output=True,
                              text=True, timeout=300)
        out = full.stdout + full.stderr
        assert full.returncode != 0
        assert f"no space left writing {home / 'lake' / 'raw_documents' / 'web'}" in out, out[-4000:]
        assert "the previous version" in out
        assert snapshot(home, folders, views) == before and staging_left(home) == []
    finally:
        if mounted:
            subprocess.run(["umount", str(home)], check=True)


READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("SELECT count(*), min(id) FROM raw_documents").fetchone(), flush=True)
sys.stdin.readline()
print(con.execute("SELECT count(*), min(id) FROM raw_documents").fetchone(), flush=True)
"""


def test_warehouse_held_by_a_reader_fails_the_run_naming_the_holder_and_the_reader_is_intact(graph):
    home, cfg, _ = graph
    reader = subprocess.Popen([sys.executable, "-c", READER, str(home / "warehouse.duckdb")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = reader.stdout.readline()
        assert first.startswith("(")
        run = subprocess.run([sys.executable, "-m", "hare_assets.cli", *materialize_args("raw_documents", "web")],
                             cwd=REPO, env=child_env(home, cfg, HARE_WAREHOUSE_LOCK_WAIT_S="2"),
                             capture_output=True, text=True, timeout=300)
        out = run.stdout + run.stderr
        assert run.returncode != 0
        assert "warehouse.duckdb stayed locked for 2s by " in out and f"(PID {reader.pid})" in out, out[-4000:]
        assert "close that DuckDB connection" in out
        again, err = reader.communicate("\n", timeout=60)
        assert reader.returncode == 0, err
        assert again.strip() == first.strip()  # the reader still reads, and what it saw is unchanged
    finally:
        if reader.poll() is None:
            reader.kill()
    # Once the reader is gone the run goes through.
    with pytest.MonkeyPatch.context() as mp:
        for k, v in child_env(home, cfg).items():
            mp.setenv(k, v)
        assert main(materialize_args("raw_documents", "web")) == 0
