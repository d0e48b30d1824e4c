"""D1 on `compute: local` (the process pool) against `compute: ray` (a local 3-node Ray cluster), same corpus,
one run: docs/s and peak RSS per step, the Ray overhead ratio, and per-core rates (docs/SCALING.md uses them).

    python benchmarks/compute_scaling.py --docs 100000 --work-dir /tmp/scaling
    python benchmarks/compute_scaling.py --docs 1000000 --sides local --work-dir /tmp/scaling

Each side runs in its own child process (a sampler reads the RSS of its whole process tree, Ray's
raylets and workers included, every 0.1 s) through the stage code the assets call:

* signals: `score_batches` over every shard (rules + lid.176 + exact hash + MinHash band keys), through
  `core.compute.map_batches`: `workers` processes locally, or Ray tasks on a cluster of a head with no
  CPUs and `workers` worker nodes of 1 CPU each (the same parallelism; each node has its own memory and
  object store sizes), started and stopped by the child (`Cluster.shutdown()`);
* filter: `filter_signals` in the child (cheap, the same on both sides);
* global: `write_deduplicated` (DuckDB under `--memory-limit`, spilling to the work dir; one
  `band_edges` task per band, local or on Ray) and connected components (a union-find in the child
  while the edges number under `component_edges_per_task`, else star rounds as tasks).

Outputs of the two sides are compared (sha256 of the kept and removed files): the table says whether
they are identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import versions  # noqa: E402
from d1_vs_datatrove import BATCH_ROWS, _tree_rss_kb  # noqa: E402


class PhasePeaks:
    """Peak tree RSS (MB) per named phase, sampled every 0.1 s in a thread."""

    def __init__(self) -> None:
        self.phase, self.peaks = "start", {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            mb = _tree_rss_kb(os.getpid()) / 1024
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), mb)
            self._stop.wait(0.1)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return self.peaks


def side(args: argparse.Namespace) -> None:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hare_assets.cleaning.signals import (
        SIGNALS_SCHEMA,
        band_key_sink,
        filter_signals,
        score_batches,
    )
    from hare_assets.core.lake import ParquetSink
    from hare_assets.core.minhash import lsh_params
    from hare_assets.core.schemas import CLEANED_SCHEMA, REJECTION_SCHEMA
    from hare_assets.core.settings import Cleaning, Compute, Dedup
    from hare_assets.core.warehouse import duckdb_limits
    from hare_assets.dedup.plan import write_deduplicated

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    peaks = PhasePeaks()
    times: dict[str, float] = {}
    cluster = None
    t = time.perf_counter()
    if args.side == "ray":
        import ray
        from ray.cluster_utils import Cluster

        peaks.phase = "cluster"
        node = {"memory": 2 << 30, "object_store_memory": 256 << 20}
        cluster = Cluster(initialize_head=True, head_node_args={**node, "num_cpus": 0})
        for _ in range(args.workers):
            cluster.add_node(num_cpus=1, **node)
        cluster.wait_for_nodes()
        compute = Compute(kind="ray", address=cluster.address)
        ray.init(address=cluster.address, log_to_driver=False)
    else:
        compute = Compute()
    times["cluster"] = time.perf_counter() - t
    try:
        shards = sorted((Path(args.corpus) / "input").glob("*.parquet"))
        peaks.phase = "signals"
        t = time.perf_counter()
        for shard in shards:
            with ParquetSink(out / "d1_signals" / shard.stem, SIGNALS_SCHEMA) as sig_sink, \
                    band_key_sink(out / "minhash_signatures" / shard.stem) as band_sink:
                batches = pq.ParquetFile(shard).iter_batches(batch_size=BATCH_ROWS)
                for signals, bands, _ in score_batches(batches, Cleaning(), Dedup(), args.workers, compute):
                    sig_sink.write_table(signals)
                    band_sink.write_table(bands)
        times["signals"] = time.perf_counter() - t
        peaks.phase = "filter"
        t = time.perf_counter()
        for shard in shards:
            with ParquetSink(out / "cleaned_documents" / shard.stem, CLEANED_SCHEMA) as kept, \
                    ParquetSink(out / "d1_rejections" / f"cleaning-{shard.stem}", REJECTION_SCHEMA) as rejected:
                for path in sorted((out / "d1_signals" / shard.stem).glob("*.parquet")):
                    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
                        k, r, _ = filter_signals(pa.Table.from_batches([batch]), Cleaning(), 1.0)
                        kept.write_table(k)
                        rejected.write_table(r)
        times["filter"] = time.perf_counter() - t
        peaks.phase = "global"
        t = time.perf_counter()
        bands = lsh_params(Dedup().jaccard_threshold, Dedup().num_perm)[0]
        with duckdb.connect() as con:
            duckdb_limits(con, args.memory_limit, out / "duckdb-tmp")
            rows_in, reasons, kept_rows = write_deduplicated(
                con, str(out / "cleaned_documents" / "*" / "*.parquet"), str(out / "minhash_signatures" / "*" / "*.parquet"),
                bands, out / "scratch", out / "d1_documents", out / "d1_rejections" / "dedup", compute)
        times["global"] = time.perf_counter() - t
    finally:
        if cluster is not None:
            import ray

            ray.shutdown()
            cluster.shutdown()
    digest = hashlib.sha256()
    for p in sorted((out / "d1_documents").glob("*.parquet")) + sorted((out / "d1_rejections" / "dedup").glob("*.parquet")):
        digest.update(p.read_bytes())
    Path(args.result).write_text(json.dumps({"times": times, "peaks": peaks.stop(), "dedup_in": rows_in,
                                             "kept": kept_rows, "removed": dict(reasons), "sha256": digest.hexdigest()}))


def run_side(name: str, args: argparse.Namespace, corpus: Path) -> dict:
    result = Path(args.work_dir) / f"result-{name}.json"
    cmd = [sys.executable, __file__, "--side", name, "--corpus", str(corpus), "--out", str(Path(args.work_dir) / name),
           "--result", str(result), "--workers", str(args.workers), "--memory-limit", args.memory_limit]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    res = json.loads(result.read_text())
    res["process_wall_s"], res["load_before"] = time.perf_counter() - t0, load
    return res


def report(args: argparse.Namespace, results: dict[str, dict]) -> str:
    n = args.docs
    names = list(results)
    rows = [("cluster start s", lambda r: f"{r['times']['cluster']:.1f}")]
    for step, docs in (("signals", lambda r: n), ("filter", lambda r: n), ("global", lambda r: r["dedup_in"])):
        rows.append((f"{step} docs/s", lambda r, s=step, d=docs: f"{d(r) / r['times'][s]:,.0f}"))
        rows.append((f"{step} docs/s per core", lambda r, s=step, d=docs, w=(args.workers if step == "signals" else 1):
                     f"{d(r) / r['times'][s] / w:,.0f}"))
        rows.append((f"{step} peak tree RSS (MB)", lambda r, s=step: f"{r['peaks'].get(s, 0):,.0f}"))
    rows += [("D1 docs/s (signals+filter+global)", lambda r: f"{n / sum(r['times'][s] for s in ('signals', 'filter', 'global')):,.0f}"),
             ("kept after dedup", lambda r: f"{r['kept']:,}"),
             ("load before", lambda r: f"{r['load_before']:.1f}")]
    lines = [f"N = {n:,} documents, {args.workers} workers, DuckDB memory_limit {args.memory_limit}; "
             + versions("ray", "duckdb", "pyarrow"), "",
             "| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines += ["| " + label + " | " + " | ".join(f(results[k]) for k in names) + " |" for label, f in rows]
    if len(names) == 2:
        a, b = (results[k] for k in names)
        ratio = sum(b["times"][s] for s in ("signals", "global")) / sum(a["times"][s] for s in ("signals", "global"))
        same = "identical" if a["sha256"] == b["sha256"] else "DIFFERENT"
        lines += ["", f"- {names[1]} / {names[0]} wall time of the mapped steps (signals + global): {ratio:.2f}x; "
                      f"kept and removed files: {same} (sha256)."]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--sides", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    p.add_argument("--memory-limit", default="1GB")
    p.add_argument("--work-dir", default="/tmp/hare-compute-scaling")
    p.add_argument("--side", help=argparse.SUPPRESS)
    p.add_argument("--corpus", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.side:
        return side(args)
    from synthetic_corpus import write_corpus

    corpus = Path(args.work_dir) / f"corpus-{args.docs}"
    if not (corpus / "input").exists():  # generated once per N and reused
        write_corpus(corpus, args.docs, max(2, args.docs // 50_000))
    results = {name: run_side(name, args, corpus) for name in args.sides}
    print(report(args, results))


if __name__ == "__main__":
    main()
