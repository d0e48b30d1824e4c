"""Benchmark tokenization + packing: ours (Tokenizer + pack + write_shards) vs datatrove's DocumentTokenizer.

Same documents (the synthetic ~870-character English documents of decontamination_vs_peers.py, no
planted contamination), same tokenizer (Mistral v1, 32,000 pieces, EOS after every document, no BOS),
same run. Prints one table of tokens/s.

    python benchmarks/tokenize_vs_datatrove.py --docs 50000

Rows
    ours: encode only           `Tokenizer.encode_batch` (sentencepiece, num_threads = all cores) in
                                batches of --batch: the bare-encoding baseline
    ours: encode+pack+write     the same encoding streamed into `pack(..., seq_len, eos)` and
                                `write_shards` (uint16 rows of seq_len + 1, shuffled, manifest)
    HF tokenizers: encode only  `tokenizers.Tokenizer.encode_batch` on the same Mistral v1 model
                                rebuilt as a tokenizers BPE (model_training/tokenizer.py; id for id
                                the same as sentencepiece), EOS appended by a TemplateProcessing as
                                datatrove does: datatrove's bare-encoding baseline
    datatrove DocumentTokenizer `DocumentTokenizer(tokenizer_name_or_path=<that tokenizer.json>,
                                eos_token="</s>")`.run() over datatrove Documents: tokenize, write the
                                .ds tokens + .index, then its default per-document shuffle (rewrites
                                the file); and with shuffle_documents=False (tokenize + write only)

Tokens/s counts document tokens + one EOS per document (the tokens the output holds before ours drops
the last partial row). The script checks that every tool produced the same total, and that the
first documents' ids are identical between sentencepiece and the tokenizers rebuild.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from common import versions  # noqa: E402
from decontamination_vs_peers import DEFAULT_ROOT, gsm8k_test, make_docs  # noqa: E402

from hare_assets.core.packing import pack, write_shards  # noqa: E402
from model_training.tokenizer import Tokenizer  # noqa: E402


def tokenizer_json(directory: Path) -> Path:
    """The Mistral v1 model as a tokenizers JSON file (built offline by model_training/tokenizer.py)."""
    from model_training.tokenizer import mistral_v1_tokenizer

    path = directory / "mistral_v1_tokenizer.json"
    mistral_v1_tokenizer().backend_tokenizer.save(str(path))
    return path


def batches(docs, size):
    for i in range(0, len(docs), size):
        yield docs[i:i + size]


def timed(fn):
    """fn -> a function returning (seconds, fn's result)."""
    def run():
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=50000)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--shard-sequences", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=1000, help="documents per encode_batch call (ours and HF)")
    ap.add_argument("--dt-batch", type=int, default=10000, help="datatrove DocumentTokenizer batch_size (its default)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per row (best is reported)")
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    docs, _, _ = make_docs(args.docs, 0.0, 0.0, gsm8k_test(args.root), args.seed, args.root)
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6

    with tempfile.TemporaryDirectory(prefix="tok-bench-") as tmp:
        tmp = Path(tmp)
        tok = Tokenizer()
        eos = tok.eos_id

        def ours_encode():
            return sum(len(ids) + 1 for b in batches(docs, args.batch) for ids in tok.encode_batch(b))

        def ours_full():
            lists = (ids for b in batches(docs, args.batch) for ids in tok.encode_batch(b))
            packer = pack(lists, args.seq_len, eos)
            write_shards(tmp / "ours", packer, args.seq_len, args.shard_sequences, args.seed,
                         {"tokenizer_sha256": tok.sha256})
            return packer.input_tokens

        runs = [(f"ours: encode only (sentencepiece, {tok.num_threads} threads)", timed(ours_encode)),
                (f"ours: encode + pack + write_shards (seq_len {args.seq_len})", timed(ours_full))]

        tj = tokenizer_json(tmp)
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers.processors import TemplateProcessing

        hf = HFTokenizer.from_file(str(tj))
        hf.post_processor = TemplateProcessing(single="$A <EOS>", special_tokens=[("<EOS>", hf.token_to_id("</s>"))],
                                               pair=None)
        sample = docs[:200]
        if [e.ids[:-1] for e in hf.encode_batch(sample)] != tok.encode_batch(sample):
            print("WARNING: the tokenizers rebuild and sentencepiece disagree on the first 200 documents")

        def hf_encode():
            return sum(len(e.ids) for b in batches(docs, args.batch) for e in hf.encode_batch(b))

        runs.append(("HF tokenizers: encode only (same model, EOS)", timed(hf_encode)))

        from datatrove.data import Document
        from datatrove.pipeline.tokens import DocumentTokenizer
        from datatrove.utils.logging import logger

        logger.remove()
        for shuffle in (True, False):
            def dt_run(shuffle=shuffle):
                out = tmp / f"dt-{shuffle}-{time.perf_counter_ns()}"
                step = DocumentTokenizer(output_folder=str(out), tokenizer_name_or_path=str(tj), eos_token="</s>",
                                         batch_size=args.dt_batch, shuffle_documents=shuffle, seed=args.seed)
                step.tokenizer  # load the tokenizer outside the timing, as ours is
                data = [Document(text=d, id=str(i)) for i, d in enumerate(docs)]
                t0 = time.perf_counter()
                step.run(iter(data))
                elapsed = time.perf_counter() - t0
                return elapsed, sum(os.path.getsize(p) for p in out.glob("*.ds")) // 2

            label = "tokenize + write + per-document shuffle (defaults)" if shuffle else \
                "tokenize + write (shuffle_documents=False)"
            runs.append((f"datatrove DocumentTokenizer: {label}", dt_run))

        # Rounds interleave the tools (each tool once per round, best round kept), so a change in
        # the machine's load during the run does not favour whichever tool ran last.
        best: dict[str, tuple[float, int]] = {}
        for _ in range(args.repeat):
            for label, run in runs:
                t, n = run()
                if label not in best or t < best[label][0]:
                    best[label] = (t, n)
        rows = [(label, *best[label]) for label, _ in runs]

    totals = {n for _, _, n in rows}
    print(f"# Tokenization + packing: {date.today().isoformat()}, {os.cpu_count()} cores, {versions('numpy', 'sentencepiece', 'tokenizers', 'datatrove', 'mistral_common')}")
    print(f"documents: {len(docs)} ({mb:.2f} MB, mean {1e6 * mb / len(docs):.0f} bytes); Mistral v1; "
          f"tokens incl. one EOS per document: {sorted(totals)}"
          f"{'' if len(totals) == 1 else ' (MISMATCH between tools)'}; best of {args.repeat} interleaved rounds")
    print()
    ours_full_rate = rows[1][2] / rows[1][1]
    print("| run | s | tokens/s | MB/s | ours (encode+pack+write) ÷ this |")
    print("|---|---:|---:|---:|---:|")
    for label, t, n in rows:
        print(f"| {label} | {t:.2f} | {n / t:,.0f} | {mb / t:.2f} | {ours_full_rate / (n / t):.2f}× |")
    print()
    overhead = rows[1][1] / rows[0][1] - 1
    dt_default = rows[3][2] / rows[3][1]
    print(f"- packing + writing over bare encoding (ours): {100 * overhead:+.1f}% time "
          f"(target ≤ 10%: {'met' if overhead <= 0.10 else 'NOT met'})")
    print(f"- ours (encode+pack+write) vs datatrove DocumentTokenizer (defaults): {ours_full_rate / dt_default:.2f}× "
          f"(target ≥ 1: {'met' if ours_full_rate >= dt_default else 'NOT met'})")


if __name__ == "__main__":
    main()
