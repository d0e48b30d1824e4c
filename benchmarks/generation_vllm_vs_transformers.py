"""Benchmark generation throughput: the vllm backend vs the transformers backend (issue 5, target >= 10x).

Same randomly initialized Mistral (a model_training preset, default the paper's 1.1B config, built
locally with the Mistral v1 tokenizer), same prompts (D2 prompts of the prompt library rendered on
synthetic seeds), same sampling (greedy, --max-new-tokens), same run. Prints one table of output
tokens/s. vLLM runs only where it is installed and torch sees a CUDA GPU; otherwise its row says why.

    python benchmarks/generation_vllm_vs_transformers.py                      # GPU: 1.1B, both backends
    python benchmarks/generation_vllm_vs_transformers.py --preset tiny --prompts 16 --max-new-tokens 32   # CPU smoke
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from common import versions  # noqa: E402

from hare_assets.core.generation.backends import BackendError, SamplingParams  # noqa: E402
from hare_assets.core.generation.transformers_backend import (  # noqa: E402
    TransformersBackend,
    build_random_mistral,
)
from hare_assets.core.generation.vllm_backend import VLLMBackend  # noqa: E402
from hare_assets.synthesis.prompts import D2_FAMILIES, templates_for  # noqa: E402

SUBJECTS = ("the water cycle", "contract law", "binary search", "the French revolution", "prime numbers",
            "photosynthesis", "supply and demand", "plate tectonics")


def prompts(n: int) -> list[str]:
    out = []
    for i in range(n):
        template = templates_for(D2_FAMILIES[i % len(D2_FAMILIES)])[i % 3]
        seed = f"Notes {i}: an introduction to {SUBJECTS[i % len(SUBJECTS)]}, with examples and exercises."
        out.append(template.render(seed=seed, words=1000))
    return out


def run(backend, batch: list[str], params: SamplingParams) -> tuple[int, float]:
    backend.generate(batch[:2], SamplingParams(max_new_tokens=4))  # load + warm up outside the timing
    t0 = time.perf_counter()
    gens = backend.generate(batch, params)
    return sum(g.tokens_out for g in gens), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="hare-1.1b", help="model_training preset: tiny, hare-0.25b, hare-1.1b")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=16, help="transformers prompts per generate() call")
    ap.add_argument("--models-dir", default="/tmp/hare-bench-models")
    args = ap.parse_args()

    folder = build_random_mistral(Path(args.models_dir), seed=0, preset_name=args.preset)
    batch = prompts(args.prompts)
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.0, seed=0)
    rows = []
    tokens, secs = run(TransformersBackend(str(folder), batch_size=args.batch_size), batch, params)
    rows.append(("transformers generate", tokens, secs, ""))
    try:
        vllm_backend = VLLMBackend(str(folder), seed=0)
    except BackendError as e:
        rows.append(("vllm offline batch", None, None, f"not run: {e}"))
    else:
        tokens, secs = run(vllm_backend, batch, params)
        rows.append(("vllm offline batch", tokens, secs, ""))

    print(f"# generation throughput, {date.today()}, preset {args.preset}, {args.prompts} prompts, "
          f"max_new_tokens {args.max_new_tokens}; {versions('torch', 'transformers', 'vllm')}")
    base = rows[0][1] / rows[0][2]
    print(f"| backend | output tokens | seconds | tokens/s | vs transformers | note |\n|---|---|---|---|---|---|")
    for name, tokens, secs, note in rows:
        if tokens is None:
            print(f"| {name} | – | – | – | – | {note} |")
        else:
            rate = tokens / secs
            print(f"| {name} | {tokens} | {secs:.2f} | {rate:,.0f} | {rate / base:.2f}x | {note} |")


if __name__ == "__main__":
    main()
