"""Local generation with transformers: any `from_pretrained` model (a hub name or a saved folder), or
"tiny-random-mistral", a 2-layer random-weight Mistral with the Mistral v1 tokenizer, built once
offline: it exercises the whole path on CPU, its text is noise.

    backend = TransformersBackend("tiny-random-mistral", batch_size=8, cache_dir=home / "models")
    folder = build_random_mistral(home / "models", seed=0, preset_name="hare-0.25b")
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from hare_assets.core.generation.backends import (
    Completed,
    Generation,
    SamplingParams,
    collect,
)

TINY_RANDOM_MISTRAL = "tiny-random-mistral"


# Not model_training.hashing on purpose: this runs each time a backend is built, so it reads only the
# files that define the model and counts large weight files by size (directory_sha256 reads every byte
# of every file). The digest is part of `model_id`, so of the request-cache keys: keep it stable.
def _file_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _folder_digest(folder: Path) -> str:
    """A short fingerprint of a saved model folder: config, tokenizer and (small) weight files by
    content, large weight files by size. Rebuilt or swapped weights give another model id."""
    files = sorted(p for p in folder.iterdir()
                   if p.name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                 "model.safetensors.index.json") or p.suffix == ".safetensors")
    small = [p for p in files if p.stat().st_size < 64 << 20]
    sizes = ",".join(f"{p.name}:{p.stat().st_size}" for p in files)
    return hashlib.sha256((sizes + _file_digest(small)).encode()).hexdigest()[:12]


def build_random_mistral(cache_dir: Path, seed: int = 0, preset_name: str = "tiny") -> Path:
    """Build (once) and save a random-weight Mistral of a model_training preset (`tiny`, `hare-0.25b`,
    `hare-1.1b`) + the Mistral v1 tokenizer; return its folder.

    The folder reloads offline with `from_pretrained`. Weights depend only on `seed` and the preset, so
    every machine builds the same model.
    """
    import torch
    from transformers import MistralForCausalLM

    from model_training.configs import PRESETS
    from model_training.tokenizer import save_tokenizer

    preset = PRESETS[preset_name]
    shape = hashlib.sha256(json.dumps(asdict(preset), sort_keys=True).encode()).hexdigest()[:8]
    target = Path(cache_dir) / f"random-mistral-{preset_name}-{shape}-seed{seed}"
    if (target / "config.json").is_file() and (target / "tokenizer.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    config = preset.to_mistral_config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MistralForCausalLM(config)
    model.generation_config.pad_token_id = 0  # <unk>: Mistral v1 has no pad token
    model.save_pretrained(tmp)
    save_tokenizer(tmp)
    try:
        tmp.rename(target)  # atomic: a concurrent builder either wins or finds the finished folder
    except OSError:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise
    return target


def resolve_model(model: str, cache_dir: Path, seed: int) -> tuple[str, str]:
    """(what to load, the name for the request cache) of a configured model: "tiny-random-mistral" is
    built in `cache_dir`, a saved folder is named by its content digest, a hub name stays as given."""
    if model == TINY_RANDOM_MISTRAL:
        folder = build_random_mistral(cache_dir, seed)
        return str(folder), f"{TINY_RANDOM_MISTRAL}#{_folder_digest(folder)}"
    local = Path(model)
    if local.is_dir():
        return model, f"{local.resolve().name}#{_folder_digest(local)}"
    return model, model


class TransformersBackend:
    """Local generation with transformers `AutoModelForCausalLM.generate`, batched, left-padded."""

    name = "transformers"

    def __init__(self, model: str, batch_size: int = 8, device: str = "auto", cache_dir: Path | None = None,
                 seed: int = 0, max_input_tokens: int | None = None):
        self.model_name = model
        self.batch_size = batch_size
        self.requested_device = device
        self.cache_dir = Path(cache_dir) if cache_dir is not None else Path(".hare") / "models"
        self.build_seed = seed
        self.max_input_tokens = max_input_tokens
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self.path, name = resolve_model(model, self.cache_dir, seed)
        self.model_id = f"transformers:{name}"

    def __repr__(self) -> str:
        return (f"TransformersBackend(model={self.model_name!r}, batch_size={self.batch_size}, "
                f"device={self.requested_device!r})")

    def _device(self):
        import torch

        if self.requested_device != "auto":
            return torch.device(self.requested_device)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def load(self):
        """Load model and tokenizer once (thread-safe); returns (model, tokenizer)."""
        with self._lock:
            if self._model is None:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer

                device = self._device()
                tok = AutoTokenizer.from_pretrained(self.path)
                tok.padding_side = "left"
                tok.truncation_side = "left"
                if tok.pad_token_id is None:
                    tok.pad_token = tok.unk_token if tok.unk_token is not None else tok.eos_token
                dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
                model = AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype).to(device)
                model.eval()
                self._model, self._tokenizer = model, tok
        return self._model, self._tokenizer

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        return collect(self.generate_stream(prompts, params), len(prompts))

    def generate_stream(self, prompts: list[str], params: SamplingParams) -> Iterator[Completed]:
        """One group per model batch of `batch_size` prompts."""
        import torch

        if not prompts:
            return
        model, tok = self.load()
        device = next(model.parameters()).device
        max_pos = getattr(model.config, "max_position_embeddings", None) or 2048
        max_in = self.max_input_tokens or max(1, max_pos - params.max_new_tokens)
        eos = tok.eos_token_id
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start:start + self.batch_size]
            enc = tok(batch, return_tensors="pt", padding=True, truncation=True, max_length=max_in)
            enc = {k: v.to(device) for k, v in enc.items()}
            kwargs: dict[str, Any] = dict(max_new_tokens=params.max_new_tokens, pad_token_id=tok.pad_token_id,
                                          eos_token_id=eos)
            if params.temperature == 0:
                kwargs.update(do_sample=False)
            else:
                kwargs.update(do_sample=True, temperature=params.temperature, top_p=1.0, top_k=0)
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(params.seed + start)
                with torch.no_grad():
                    seqs = model.generate(**enc, **kwargs)
            width = enc["input_ids"].shape[1]
            done: Completed = []
            for i in range(len(batch)):
                new = seqs[i, width:].tolist()
                if eos is not None and eos in new:
                    new = new[:new.index(eos) + 1]
                else:
                    while new and new[-1] == tok.pad_token_id:
                        new.pop()
                text = tok.decode(new, skip_special_tokens=True)
                done.append((start + i, Generation(text=text, tokens_in=int(enc["attention_mask"][i].sum()),
                                                   tokens_out=len(new))))
            yield done
