"""Benchmark n-gram decontamination: ours vs lm-eval's Janitor vs datatrove's NGramsDecontFilter.

Same documents, same benchmark set, same run, n = 13. Prints one table (docs/s, MB/s, what each tool
flagged) and the agreement between the tools on which documents are contaminated.

    python benchmarks/decontamination_vs_peers.py --docs 10000                 # GSM8K test only
    python benchmarks/decontamination_vs_peers.py --docs 10000 --benchmarks all  # every benchmark folder

Needs, besides this project: lm-eval (0.4.13), datatrove (0.10.1) with spacy (its English word
tokenizer, `spacy.blank("en")`: no model download) and xxhash. Nothing is downloaded at run time.

Documents. Synthetic English-like documents of about 870 characters (words drawn Zipf-like from the
vocabulary of the non-GSM8K benchmark files, or a built-in list, in sentences with punctuation and
numbers), seeded. A share of them are planted contamination built from GSM8K test items:
    planted  a short filler lead-in (60-150 characters) followed by whole GSM8K test items (question +
             worked answer, verbatim; as many as fit, the last one cut at a word boundary): most of the
             document's 13-grams are benchmark text, so every tool must flag it and our rule
             (repetition rate > 0.5) must remove it;
    quoted   a clean document with one 20-word run of a GSM8K question spliced in: the peers flag any
             document with one matching 13-gram, our rule keeps it (rate about 8 / 140 windows).

The tools, each through its own Python API:
    ours       `benchmark_ngram_rows(items, [13])` -> `sorted_index` (index build, not timed in docs/s),
               then `repetition_rates(batch, index, 13)` over the documents in batches of --batch.
               Removed = rate > 0.5 (the paper's rule); "any hit" = at least one matched 13-gram.
    Janitor    `lm_eval.decontamination.janitor.Janitor(ngram_n=13)`: `register_contaminant_python`
               for every benchmark item, then `clean_python(doc)` per document (the Python path;
               lm-eval 0.4.13's C++ `janitor_util` is not built here and its path counts every 13-gram
               as dirty). A document is contaminated when clean() does not return it whole.
    datatrove  `NGramsDecontIndexer(config=NGramsDecontConfig(n_grams=13, find_query_ngrams=True))`
               run over the benchmark items as datatrove Documents (text = answer/gold, metadata
               query = question + options, task = benchmark), then `NGramsDecontFilter` with the same
               config over the documents through its `run()` generator. The indexer's `run()` always
               imports lighteval (to add lighteval tasks after the given documents); lighteval is not
               installed here, so a stub package whose registry holds no task is put on sys.path: the
               hashes written are exactly the ones from the documents given.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import random
import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import versions  # noqa: E402

from hare_assets.core.benchmarks import load_benchmark  # noqa: E402
from hare_assets.core.overlap.index import (  # noqa: E402
    benchmark_ngram_rows,
    prepare_index,
    sorted_index,
)
from hare_assets.core.overlap.scoring import repetition_rates  # noqa: E402
from hare_assets.core.settings import BENCHMARK_NAMES  # noqa: E402

N = 13
THRESHOLD = 0.5
DEFAULT_ROOT = Path(os.environ.get("HARE_BENCHMARKS_DIR", REPO.parent / "shared" / "benchmarks"))
FALLBACK_WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
    "they you were her she there one all we their been has when who will more no if out so said what up its "
    "about into than them can only other new some could time these two may then do first any my now such like "
    "our over man me even most made after also did many before must through back years where much your way "
    "well down should because each just those people how too little state good very make world still own see "
    "men work long get here between both life being under never day same another know while last might us "
    "great old year off come since against go came right used take three house water garden river market "
    "city school family history science music village window morning evening summer winter letter teacher "
    "student doctor farmer kitchen bridge station library mountain forest island harbor museum valley"
).split()


# --------------------------------------------------------------------------- documents

def vocabulary(root: Path) -> tuple[list[str], np.ndarray]:
    """Words and the cumulative Zipf-like distribution over their frequency rank, from the non-GSM8K benchmark files."""
    counts: dict[str, int] = {}
    for name in BENCHMARK_NAMES:
        if name == "gsm8k" or not (root / name).exists():
            continue
        try:
            items = load_benchmark(name, root / name)
        except Exception:  # noqa: BLE001 - a vocabulary source only
            continue
        for item in items[:3000]:
            for w in re.findall(r"[A-Za-z]+", item.text):
                w = w.lower()
                counts[w] = counts.get(w, 0) + 1
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: -kv[1])][:20000]
    if len(words) < 500:
        words = FALLBACK_WORDS
    weights = 1.0 / (np.arange(len(words)) + 2.7) ** 1.05
    cdf = np.cumsum(weights)
    return list(words), cdf / cdf[-1]


def filler(rng: random.Random, nprng: np.random.Generator, words: list[str], cdf: np.ndarray, chars: int) -> str:
    """English-like sentences, about `chars` characters (cut at a word boundary)."""
    out: list[str] = []
    size = 0
    while size < chars:
        k = rng.randint(8, 22)
        ws = [words[i] for i in np.minimum(np.searchsorted(cdf, nprng.random(k)), len(words) - 1)]
        if rng.random() < 0.3:
            ws[rng.randrange(k)] = str(rng.randint(2, 1999))
        if k > 10 and rng.random() < 0.5:
            ws[rng.randrange(3, k - 2)] += ","
        s = " ".join(ws)
        s = s[0].upper() + s[1:] + rng.choice(".....?!")
        out.append(s)
        size += len(s) + 1
    text = " ".join(out)
    if len(text) > chars:
        text = text[:chars].rsplit(" ", 1)[0] + "."
    return text


def make_docs(n: int, planted_frac: float, quoted_frac: float, gsm8k_items, seed: int, root: Path,
              target_chars: int = 870):
    """(texts, kinds) with kinds in {"clean", "planted", "quoted"}; planted/quoted items are GSM8K test items."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    words, cdf = vocabulary(root)
    n_planted = int(round(n * planted_frac))
    n_quoted = int(round(n * quoted_frac))
    kinds = ["planted"] * n_planted + ["quoted"] * n_quoted + ["clean"] * (n - n_planted - n_quoted)
    rng.shuffle(kinds)
    test_items = [it for it in gsm8k_items if it.split == "test"] or list(gsm8k_items)
    docs, sources = [], []
    for kind in kinds:
        length = max(200, int(rng.gauss(target_chars, 120)))
        if kind == "planted":
            lead = filler(rng, nprng, words, cdf, rng.randint(60, 150))
            body, first = [], None
            while len(lead) + sum(len(b) + 1 for b in body) < length:
                item = rng.choice(test_items)
                first = first or item.item_id
                body.append(item.text.replace("\n", " "))
            text = (lead + " " + " ".join(body))
            docs.append(text[:length].rsplit(" ", 1)[0])
            sources.append(first)
        elif kind == "quoted":
            item = rng.choice(test_items)
            q = item.context.split()
            start = rng.randrange(0, max(1, len(q) - 20))
            quote = " ".join(q[start:start + 20])
            base = filler(rng, nprng, words, cdf, max(100, length - len(quote) - 1))
            cut = rng.randrange(len(base) // 4, 3 * len(base) // 4)
            cut = base.rfind(" ", 0, cut) + 1 if base.rfind(" ", 0, cut) > 0 else 0
            docs.append(base[:cut] + quote + " " + base[cut:])
            sources.append(item.item_id)
        else:
            docs.append(filler(rng, nprng, words, cdf, length))
            sources.append(None)
    return docs, kinds, sources


# --------------------------------------------------------------------------- benchmark items

def load_items(spec: str, root: Path):
    names = list(BENCHMARK_NAMES) if spec == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    items, missing = [], []
    for name in names:
        if name == "gsm8k" and spec != "all":
            path = root / "gsm8k" / "test.jsonl"
        else:
            path = root / name
        if not path.exists():
            missing.append(name)
            continue
        items.extend(load_benchmark(name, path))
    return items, missing


def gsm8k_test(root: Path):
    return load_benchmark("gsm8k", root / "gsm8k" / "test.jsonl")


# --------------------------------------------------------------------------- the three tools

def run_ours(items, docs, batch: int, repeat: int, threads: int):
    t0 = time.perf_counter()
    rows = benchmark_ngram_rows(((it.benchmark, f"{it.split}/{it.item_id}", it.text) for it in items), [N])
    index = prepare_index({N: sorted_index(rows.column("hash").to_numpy())})
    index.prefilter(N)  # the membership bitmap is part of building the index, as in the asset
    build = time.perf_counter() - t0
    best, cpu, results = math.inf, math.inf, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        res = []
        for i in range(0, len(docs), batch):
            res.extend(repetition_rates(docs[i:i + batch], index, N, threads=threads))
        best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        results = res
    removed = np.array([r.rate > THRESHOLD for r in results])
    hit = np.array([r.matched > 0 for r in results])
    return {"build_s": build, "time_s": best, "cpu_s": cpu, "removed": removed, "hit": hit,
            "rates": np.array([r.rate for r in results]), "index_size": len(index[N])}


def run_janitor(items, docs, repeat: int):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from lm_eval.decontamination.janitor import Janitor
    t0 = time.perf_counter()
    jan = Janitor(ngram_n=N)
    for it in items:
        jan.register_contaminant_python(it.text)
    build = time.perf_counter() - t0
    best, cpu, flags = math.inf, math.inf, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = [jan.clean_python(d) for d in docs]
        best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        flags = np.array([chunks != [d] for chunks, d in zip(out, docs)])
    return {"build_s": build, "time_s": best, "cpu_s": cpu, "removed": flags, "hit": flags,
            "index_size": len(jan.dirt_ngrams)}


_LIGHTEVAL_STUB = {
    "lighteval/__init__.py": "",
    "lighteval/tasks/__init__.py": "",
    "lighteval/tasks/lighteval_task.py":
        "class LightevalTask:\n    @staticmethod\n    def load_datasets(tasks, *a, **k):\n        return None\n",
    "lighteval/tasks/registry.py":
        "class Registry:\n    def __init__(self, *a, **k):\n        pass\n"
        "    def get_task_dict(self, tasks):\n        return {}\n",
}


def _install_lighteval_stub(tmp: Path) -> None:
    import importlib.metadata

    try:
        importlib.metadata.version("lighteval")
        return  # the real one is installed: with no lighteval_tasks it adds nothing
    except importlib.metadata.PackageNotFoundError:
        pass
    for rel, text in _LIGHTEVAL_STUB.items():
        path = tmp / "stub" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    dist = tmp / "stub" / "lighteval-0.0.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lighteval\nVersion: 0.0.0\n")
    sys.path.insert(0, str(tmp / "stub"))
    importlib.invalidate_caches()


def _datatrove_item_doc(it):
    from datatrove.data import Document

    label = it.answer or (it.choices[it.gold] if it.choices and 0 <= it.gold < len(it.choices) else "")
    query = "\n".join([it.context, *[c for c in it.choices if c != label]])
    return Document(text=label, id=f"{it.benchmark}/{it.split}/{it.item_id}",
                    metadata={"query": query, "task": it.benchmark})


def run_datatrove(items, docs, tmp: Path, repeat: int):
    _install_lighteval_stub(tmp)
    from datatrove.data import Document
    from datatrove.pipeline.decont import (
        NGramsDecontConfig,
        NGramsDecontFilter,
        NGramsDecontIndexer,
    )
    from datatrove.utils.logging import logger

    logger.remove()  # its per-step logging would go to stderr
    config = NGramsDecontConfig(n_grams=N, find_query_ngrams=True, find_overlap_ngrams=True)
    index_dir = tmp / "datatrove_index"
    t0 = time.perf_counter()
    NGramsDecontIndexer(output_folder=str(index_dir), config=config).run(data=(_datatrove_item_doc(it) for it in items))
    step = NGramsDecontFilter(index_folder=str(index_dir), config=config)
    step.load_index_hashes()
    step.tokenizer.word_tokenize("warm up the spacy pipeline")
    build = time.perf_counter() - t0
    best, cpu, flags = math.inf, math.inf, None
    for _ in range(repeat):
        dt_docs = [Document(text=d, id=str(i)) for i, d in enumerate(docs)]
        t0, c0 = time.perf_counter(), time.process_time()
        kept = {doc.id for doc in step.run(iter(dt_docs))}
        best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        flags = np.array([str(i) not in kept for i in range(len(docs))])
    return {"build_s": build, "time_s": best, "cpu_s": cpu, "removed": flags, "hit": flags,
            "index_size": len(step._index_hashes)}


# --------------------------------------------------------------------------- report

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--benchmarks", default="gsm8k",
                    help="'gsm8k' (test split), 'all', or a comma list of benchmark folders")
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder of benchmark files (shared/benchmarks)")
    ap.add_argument("--planted", type=float, default=0.05, help="share of documents made of whole GSM8K items")
    ap.add_argument("--quoted", type=float, default=0.02, help="share with one 20-word GSM8K quote")
    ap.add_argument("--batch", type=int, default=2048, help="documents per repetition_rates call (ours)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per tool (best is reported)")
    ap.add_argument("--threads", default=f"{os.cpu_count()},1",
                    help="comma list of thread counts for ours; the first is the headline row")
    ap.add_argument("--datatrove-repeat", type=int, default=1, help="timed runs for datatrove (slow)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", default="", help="comma list of tools to skip: janitor,datatrove")
    args = ap.parse_args()

    items, missing = load_items(args.benchmarks, args.root)
    if not items:
        sys.exit(f"no benchmark items under {args.root} for {args.benchmarks!r}")
    docs, kinds, _ = make_docs(args.docs, args.planted, args.quoted, gsm8k_test(args.root), args.seed, args.root)
    kinds = np.array(kinds)
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    skip = set(filter(None, args.skip.split(",")))

    runs: dict[str, dict] = {}
    thread_counts = [int(t) for t in args.threads.split(",")]
    runs["ours"] = run_ours(items, docs, args.batch, args.repeat, thread_counts[0])
    for t in thread_counts[1:]:
        runs[f"ours, {t} thread{'s' if t > 1 else ''}"] = run_ours(items, docs, args.batch, args.repeat, t)
    if "janitor" not in skip:
        runs["lm-eval Janitor (python)"] = run_janitor(items, docs, args.repeat)
    if "datatrove" not in skip:
        with tempfile.TemporaryDirectory(prefix="decont-bench-") as tmp:
            runs["datatrove NGramsDecontFilter"] = run_datatrove(items, docs, Path(tmp), args.datatrove_repeat)

    planted, quoted, clean = kinds == "planted", kinds == "quoted", kinds == "clean"
    print(f"# Decontamination, n = {N}: {date.today().isoformat()}, {os.cpu_count()} cores, {versions('numpy', 'pyarrow', 'lm_eval', 'datatrove', 'spacy', 'xxhash')}")
    print(f"benchmarks: {args.benchmarks} ({len(items)} items{'; missing ' + ','.join(missing) if missing else ''}); "
          f"documents: {len(docs)} ({mb:.2f} MB, mean {1e6 * mb / len(docs):.0f} bytes), "
          f"{planted.sum()} planted (whole GSM8K items), {quoted.sum()} with a 20-word quote, {clean.sum()} clean; "
          f"ours in batches of {args.batch}; best of {args.repeat} runs (datatrove {args.datatrove_repeat})")
    print()
    print("| tool | index build s | index entries | scan s | CPU s | docs/s | MB/s | flagged | planted flagged | "
          "quoted flagged | clean flagged | ours ÷ tool (wall) | ours ÷ tool (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ours_cpu = runs["ours"]["cpu_s"]
    ours_rate = len(docs) / runs["ours"]["time_s"]
    label_ours = f"ours ({thread_counts[0]} thread{'s' if thread_counts[0] > 1 else ''})"
    for name, r in runs.items():
        rate = len(docs) / r["time_s"]
        wall_ratio = "—" if name == "ours" else f"{ours_rate / rate:,.2f}×"
        cpu_ratio = "—" if name == "ours" else f"{r['cpu_s'] / ours_cpu:,.2f}×"
        if name == "ours":
            rows = [(f"{label_ours}: removed (rate > 0.5)", r["removed"]), (f"{label_ours}: any 13-gram hit", r["hit"])]
        elif name.startswith("ours"):
            rows = [(f"{name}: removed (rate > 0.5)", r["removed"])]
        else:
            rows = [(name, r["removed"])]
        for tool, f in rows:
            print(f"| {tool} | {r['build_s']:.2f} | {r['index_size']:,} | {r['time_s']:.3f} | {r['cpu_s']:.3f} | "
                  f"{rate:,.0f} | {mb / r['time_s']:.2f} | {f.sum()} | {f[planted].sum()}/{planted.sum()} | "
                  f"{f[quoted].sum()}/{quoted.sum()} | {f[clean].sum()}/{clean.sum()} | "
                  f"{wall_ratio} | {cpu_ratio} |")
    print()
    print("Agreement (documents where the two flag sets agree; 'ours' = any 13-gram hit unless stated):")
    ours_hit, ours_removed = runs["ours"]["hit"], runs["ours"]["removed"]
    ours_runs = [n for n in runs if n.startswith("ours")]
    peers = [n for n in runs if not n.startswith("ours")]
    for name in ours_runs[1:]:
        print(f"- {name} vs {label_ours}: same rates on {np.sum(runs[name]['rates'] == runs['ours']['rates'])}/{len(docs)} documents")
    for name in peers:
        f = runs[name]["removed"]
        print(f"- ours vs {name}: {np.sum(ours_hit == f)}/{len(docs)} agree "
              f"(both {np.sum(ours_hit & f)}, only ours {np.sum(ours_hit & ~f)}, only {name.split()[0]} {np.sum(~ours_hit & f)}); "
              f"ours removed (rate > 0.5) vs {name.split()[0]} flagged on planted items: "
              f"{np.sum(ours_removed[planted])} vs {np.sum(f[planted])} of {planted.sum()}")
    if len(peers) == 2:
        a, b = runs[peers[0]]["removed"], runs[peers[1]]["removed"]
        print(f"- {peers[0]} vs {peers[1]}: {np.sum(a == b)}/{len(docs)} agree")
    rates = runs["ours"]["rates"]
    for kind in ("planted", "quoted"):
        sel = rates[kinds == kind]
        if len(sel):
            print(f"- ours repetition rate on {kind} documents: min {sel.min():.2f}, median {np.median(sel):.2f}, max {sel.max():.2f}")
    for name in peers:
        target = 20 if "Janitor" in name else 50
        for mine in ours_runs:
            ratio = runs[name]["time_s"] / runs[mine]["time_s"]
            cratio = runs[name]["cpu_s"] / runs[mine]["cpu_s"]
            who = label_ours if mine == "ours" else mine
            print(f"- target ours ≥ {target}× {name}: {who} {ratio:,.1f}× wall, {cratio:,.1f}× CPU time → "
                  f"{'met' if ratio >= target else 'NOT met'}")


if __name__ == "__main__":
    main()
