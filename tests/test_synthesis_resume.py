"""d2_documents through the OpenAI-compatible backend against a real localhost server: a
materialization killed halfway (SIGKILL of the `hare materialize` process) resumes without sending
any finished request again, a further one is answered wholly from the request cache, and the API
key never reaches logs, metadata or any file under HARE_HOME."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pyarrow as pa
import yaml
from openai_server import OpenAIServer

from hare_assets.core.generation.cache import RequestCache
from hare_assets.core.lake import asset_dir, write_table
from hare_assets.core.schemas import DOCUMENT_SCHEMA
from hare_assets.core.settings import PACKAGED_CONFIG

REPO = Path(__file__).resolve().parents[1]
SECRET = "sk-never-log-4242"
CATEGORIES = ("Web", "Wiki", "News", "Academic", "Books", "Law", "Code", "Math")
N_SEEDS, KILL_AFTER = 16, 5


def _write_inputs(home: Path) -> None:
    seeds = [{"seed_id": f"seed-doc{i}", "doc_id": f"doc{i}", "source": "RedPajamaWiki",
              "category": CATEGORIES[i % len(CATEGORIES)], "cluster": i % 3, "topic": f"topic_{i % 3}",
              "seed_text": f"Seed snippet number {i} about subject {i % 3}."} for i in range(N_SEEDS)]
    write_table(asset_dir(home, "synthesis_seeds"), pa.Table.from_pylist(seeds))
    cosmo = [{"id": f"cosmopedia-{i}", "source": "cosmopedia", "category": "cosmopedia", "part": "d2",
              "text": f"An open textbook page {i}.", "meta": "{}"} for i in range(2)]
    write_table(asset_dir(home, "raw_documents", "cosmopedia"), pa.Table.from_pylist(cosmo, schema=DOCUMENT_SCHEMA))


def _config(home: Path, url: str) -> Path:
    cfg = yaml.safe_load(PACKAGED_CONFIG.read_text())
    cfg["sample_corpus"] = {"enabled": False}
    cfg["synthesis"]["backend"] = {"kind": "openai", "model": "test-model", "base_url": url,
                                   "api_key_env": "HARE_TEST_KEY", "max_new_tokens": 16, "max_concurrency": 2,
                                   "timeout_s": 60, "max_retries": 0, "requests_per_call": 8}
    path = home / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _materialize(env: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hare_assets.cli", "materialize", "--select", "d2_documents",
                             "--verbose"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, **kw)


def _wait(cond, what: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"materialization ended before {what}: {proc.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _latest_metadata(home: Path) -> dict:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("d2_documents"))
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_killed_materialization_resumes_without_resending_and_rerun_is_all_cache_hits(tmp_path):
    home = tmp_path / "hare"
    (home / "dagster").mkdir(parents=True)
    _write_inputs(home)
    with OpenAIServer(api_key=SECRET) as srv:
        env = {**os.environ, "HARE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
               "HARE_CONFIG": str(_config(home, srv.url)), "HARE_TEST_KEY": SECRET,
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        cache = RequestCache(home / "warehouse.duckdb")
        outputs = []

        # 1. Answer KILL_AFTER requests, hold the rest; once those answers are cached, SIGKILL the run.
        srv.hold_after = KILL_AFTER
        proc = _materialize(env)
        try:
            _wait(lambda: len(srv.delivered) == KILL_AFTER and srv.in_flight == 2, "the held requests", proc)
            _wait(lambda: cache.count() == KILL_AFTER, "the finished answers in the cache", proc)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            out, _ = proc.communicate(timeout=30)
            outputs.append(out)
        assert proc.returncode == -signal.SIGKILL
        first = Counter(srv.delivered)
        assert len(first) == KILL_AFTER
        srv.release()
        arrived_before = len(srv.seen)

        # 2. The resumed materialization sends only what was never answered, each once.
        proc = _materialize(env)
        out, _ = proc.communicate(timeout=300)
        outputs.append(out)
        assert proc.returncode == 0, out[-3000:]
        resent = Counter(s["body"]["prompt"] for s in srv.seen[arrived_before:])
        assert not set(resent) & set(first)
        assert len(resent) == N_SEEDS - KILL_AFTER and set(resent.values()) == {1}
        meta = _latest_metadata(home)
        assert (meta["requests"], meta["requests_sent"], meta["cache_hits"]) == (N_SEEDS, N_SEEDS - KILL_AFTER,
                                                                                 KILL_AFTER)
        assert meta["tokens_out"] == 3 * (N_SEEDS - KILL_AFTER) and meta["tokens_in"] > 0

        # 3. Materializing again sends nothing: every request is a cache hit.
        arrived_before = len(srv.seen)
        proc = _materialize(env)
        out, _ = proc.communicate(timeout=300)
        outputs.append(out)
        assert proc.returncode == 0, out[-3000:]
        assert len(srv.seen) == arrived_before
        meta = _latest_metadata(home)
        assert (meta["requests_sent"], meta["cache_hits"], meta["cache_hit_rate"]) == (0, N_SEEDS, 1.0)
        assert meta["tokens_in"] == 0 and meta["cached_tokens_out"] == 3 * N_SEEDS
        assert meta["model"] == "openai:test-model" and meta["dagster/row_count"] == N_SEEDS + 2
        assert all(s["auth"] == f"Bearer {SECRET}" for s in srv.seen)

    # The key was used on every request, and is nowhere in the output, metadata or files.
    assert not any(SECRET in out for out in outputs)
    assert not any(SECRET in str(v) for v in meta.values())
    leaked = [p for p in home.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []

