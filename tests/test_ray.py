"""`compute: {kind: ray}` on a real three-node Ray cluster on localhost: the sample's D1 scoring, global
dedup (key shards and star rounds there), topic embeddings, decontamination and shards come out byte-identical to `local`, and the
tasks ran on more than one node (Ray's state API).

The cluster is started here (`ray.cluster_utils.Cluster`: a head and two workers, each with its own
CPU, memory and object store sizes, since nodes on one host otherwise each advertise the whole
machine) and stopped by its own handle (`Cluster.shutdown()`, never `ray stop`, which would kill
every Ray process on the host).
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import time
from pathlib import Path

import pytest
import yaml

from hare_assets.cli import main

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
from ray.cluster_utils import Cluster  # noqa: E402
from ray.util.state import list_nodes, list_tasks  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Everything a Ray task computes, and what comes of it: the asset folders compared byte for byte.
RAY_ASSETS = ("d1_signals", "minhash_signatures", "d1_documents", "topic_clusters", "decontaminated_documents",
              "decontamination_rejections", "tokenized_shards")
RAY_SELECTION = ("key:d1_signals or key:d1_documents or key:topic_clusters or key:decontaminated_documents "
                 "or key:tokenized_shards")
# The stage functions that run as Ray tasks (core.compute names each task after its function).
TASKS = {"hare_assets.cleaning.signals.score_table", "hare_assets.dedup.plan.band_edges",
         "hare_assets.dedup.components.star_phase",
         "hare_assets.core.embeddings.embed_chunk", "hare_assets.core.overlap.scoring.check_texts",
         "model_training.tokenizer.encode_texts"}
NODE = {"num_cpus": 1, "memory": 1 << 30, "object_store_memory": 100 << 20}
D1_SOURCES = {"RedPajamaC4": "Web", "RedPajamaWiki": "Wiki", "The-Stack": "Code", "OpenWebMath": "Math"}


def small_sample_config() -> dict:
    """The packaged sample cut to four D1 sources (with their Table 4 seeds), the open D2/D3 sets, a
    few synthesis requests and one mix run: every Ray stage runs, in a fraction of the full sample's time."""
    raw = yaml.safe_load((REPO / "hare_assets" / "default_config.yaml").read_text())
    raw["sources"] = [s for s in raw["sources"] if s["part"] != "d1" or s["name"] in D1_SOURCES]
    raw["topics"]["seed_sources"] = D1_SOURCES
    raw["topics"]["n_clusters"] = 4
    raw["synthesis"].update(d2_tokens=192, d3_seed_documents=2, d3_categories=["Wiki", "Code"])
    raw["synthesis"]["backend"]["max_new_tokens"] = 16
    raw["mixture"]["runs"] = {"stage2": raw["mixture"]["runs"]["stage2"]}
    raw["training"]["runs"] = {"stage2": {**raw["training"]["runs"]["stage2"], "init_from": None}}
    raw["training"]["ablation_arms"] = []
    raw["ingestion"]["batch_rows"] = 25  # several batches per source, so tasks spread over the nodes
    return raw


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def run_cli(home: Path, cfg: Path, monkeypatch, *args: str) -> None:
    monkeypatch.setenv("HARE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("HARE_CONFIG", str(cfg))
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    assert main(["materialize", *args]) == 0


@pytest.fixture(scope="module")
def cluster():
    started = time.monotonic()
    # The dashboard serves the state API; a free port, in case another Ray runs on this host.
    c = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": True, "dashboard_port": free_port()})
    for _ in range(2):
        c.add_node(**NODE)
    c.wait_for_nodes()
    print(f"3-node Ray cluster up in {time.monotonic() - started:.1f}s")
    try:
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


def test_ray_outputs_equal_local_and_tasks_span_nodes(tmp_path, monkeypatch, cluster):
    raw = small_sample_config()
    local_cfg = tmp_path / "local.yaml"
    local_cfg.write_text(yaml.safe_dump(raw))
    # Key shards and star rounds on Ray against one task per band and a union-find locally: same survivors.
    raw["compute"] = {"kind": "ray", "address": cluster.address, "max_in_flight": 6, "dedup_key_shards": 2,
                      "component_edges_per_task": 8}
    ray_cfg = tmp_path / "ray.yaml"
    ray_cfg.write_text(yaml.safe_dump(raw))

    local, on_ray = tmp_path / "local", tmp_path / "ray"
    run_cli(local, local_cfg, monkeypatch, "--select", "+key:tokenized_shards")
    # The same inputs (raw documents, synthesis, benchmarks...), then every Ray stage again on the cluster.
    shutil.copytree(local, on_ray, ignore=shutil.ignore_patterns("dagster", "warehouse.duckdb*"))
    for name in RAY_ASSETS:
        shutil.rmtree(on_ray / "lake" / name)
    run_cli(on_ray, ray_cfg, monkeypatch, "--select", RAY_SELECTION)

    for name in RAY_ASSETS:
        want, got = tree_digest(local / "lake" / name), tree_digest(on_ray / "lake" / name)
        assert want and got == want, name

    ray.init(address=cluster.address, ignore_reinit_error=True)
    tasks = list_tasks(filters=[("state", "=", "FINISHED")], limit=10_000, raise_on_missing_output=False)
    ran = {t.name for t in tasks}
    assert TASKS <= ran, TASKS - ran
    nodes = {t.node_id for t in tasks if t.name in TASKS}
    assert len(list_nodes()) == 3 and len(nodes) >= 2, nodes
