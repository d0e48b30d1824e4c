"""CPU decode speed of the exported tool model: llama.cpp (llama-cpp-python) on the GGUF Q4_0 and Q8_0 files
against the full-precision HF model (transformers, fp32), for a random-weight preset with the functional
tokens, beside the paper's 8 tokens/s (int4 HARE-1.1B-Tool on a Redmi K40 phone).

    python benchmarks/tool_int4_cpu.py --preset hare-1.1b --tokens 64 --threads 2

Random weights: the speed is the shape's, the text is noise. Each row generates `--tokens` tokens after a short
prompt, three times; the median decode tokens/s (first token, i.e. prompt evaluation, excluded) is reported.
Needs `pip install '.[llama-cpp]'` (llama.cpp compiled by pip) for the GGUF rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import versions  # noqa: E402


def build(preset: str, folder: Path) -> Path:
    import torch
    from transformers import MistralForCausalLM

    from model_training.configs import PRESETS
    from model_training.functional_tokens import (
        add_functional_tokens,
        functional_tokenizer,
    )
    from model_training.tokenizer import save_tokenizer

    torch.manual_seed(0)
    model = MistralForCausalLM(PRESETS[preset].to_mistral_config())
    tok = functional_tokenizer(7)
    add_functional_tokens(tok, model, 7)
    save_tokenizer(folder, functional_tokens=7)
    model.save_pretrained(folder)
    return folder


def hf_decode_tokens_per_s(folder: Path, prompt: list[int], tokens: int, threads: int) -> float:
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ids = torch.tensor([prompt])
    runs = []
    with torch.inference_mode():
        for _ in range(3):
            first = time.perf_counter()
            model.generate(ids, max_new_tokens=1, do_sample=False, pad_token_id=0)
            one = time.perf_counter() - first
            start = time.perf_counter()
            model.generate(ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, pad_token_id=0)
            runs.append((tokens - 1) / (time.perf_counter() - start - one))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="hare-1.1b")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from model_training.gguf_export import export_gguf, read_gguf
    from model_training.gguf_runtime import llama_cpp_available, llama_cpp_greedy
    from model_training.tokenizer import mistral_v1_tokenizer

    prompt = mistral_v1_tokenizer()("Below is the query from the users, please call the correct function and "
                                    "generate the parameters to call the function.\n\nQuery: Call Anna\n\n"
                                    "Response: ").input_ids
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = build(args.preset, Path(tmp) / "model")
        rows.append(("transformers fp32 (HF)", None, hf_decode_tokens_per_s(folder, prompt, args.tokens, args.threads),
                     None))
        for qtype in ("Q8_0", "Q4_0"):
            started = time.perf_counter()
            out = export_gguf(folder, Path(tmp) / f"m-{qtype}.gguf", qtype)
            export_s = time.perf_counter() - started
            assert qtype in read_gguf(out["path"])["tensor_types"]
            if not llama_cpp_available():
                rows.append((f"llama.cpp {qtype}", out["bytes"], None, export_s))
                continue
            speeds = [llama_cpp_greedy(out["path"], [prompt], args.tokens, None, threads=args.threads)[1]["tokens_per_s"]
                      for _ in range(3)]
            rows.append((f"llama.cpp {qtype}", out["bytes"], statistics.median(speeds), export_s))
    print(f"preset {args.preset}, {args.tokens} tokens after a {len(prompt)}-token prompt, {args.threads} threads; "
          + versions("torch", "transformers", "gguf", "llama_cpp_python"))
    print("| runtime | file MB | decode tokens/s | export s |\n|---|---|---|---|")
    for name, size, speed, export_s in rows:
        print(f"| {name} | {size / 1e6:,.0f} | " if size else f"| {name} | - | ", end="")
        print(f"{speed:.1f} | " if speed else "not installed | ", end="")
        print(f"{export_s:.1f} |" if export_s else "- |")
    print("| paper: int4 HARE-1.1B-Tool on a Redmi K40 (phone CPU) | - | 8 | - |")


if __name__ == "__main__":
    main()
