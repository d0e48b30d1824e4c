"""An HF Mistral checkpoint as a GGUF file for llama.cpp (the runtime phones use), written with the `gguf`
package's `GGUFWriter` and its numpy quantizers, and read back with its `GGUFReader`.

    python -m model_training.gguf_export runs/tool/final tool-q4_0.gguf --type Q4_0
    from model_training.gguf_export import export_gguf, read_gguf
    export_gguf("runs/tool/final", "tool-q4_0.gguf", "Q4_0")
    read_gguf("tool-q4_0.gguf")   # {"architecture": "llama", "tensor_types": {"Q4_0": 15, "F32": 5}, ...}

What llama.cpp expects of a Mistral v1 model (its convert_hf_to_gguf.py converts MistralForCausalLM with its
LlamaModel class): architecture "llama"; the tensor names of `gguf.get_tensor_name_map(LLAMA)`
(token_embd, blk.N.attn_q/k/v/output, blk.N.ffn_gate/up/down, blk.N.attn_norm/ffn_norm, output_norm,
output); q and k rows permuted from HF's rotary layout (halves) back to the interleaved pairs llama.cpp's
rope reads; the sentencepiece vocabulary as tokenizer.ggml.model "llama" with tokens, scores and types.
Tokens added after the sentencepiece vocabulary (the functional tokens) are USER_DEFINED, so llama.cpp
matches them in text and prints them. 2-D weights are quantized to the requested type (Q4_0 / Q8_0 need
rows divisible by 32, true of every preset); norms stay F32, as llama.cpp's own quantizer keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

TYPES = ("Q4_0", "Q8_0", "F16", "F32")


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """HF's q/k row order (rotary halves) to llama.cpp's (interleaved pairs), as convert_hf_to_gguf.py does."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _vocab(checkpoint: Path, vocab_size: int):
    """tokens, scores, types: the sentencepiece model's pieces, then the tokenizer's added tokens by id."""
    import gguf
    import sentencepiece
    from transformers import AutoTokenizer

    sp = sentencepiece.SentencePieceProcessor(model_file=str(checkpoint / "tokenizer.model"))
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(i).encode("utf-8"))
        scores.append(sp.get_score(i))
        kind = gguf.TokenType.NORMAL
        if sp.is_unknown(i):
            kind = gguf.TokenType.UNKNOWN
        elif sp.is_control(i):
            kind = gguf.TokenType.CONTROL
        elif sp.is_byte(i):
            kind = gguf.TokenType.BYTE
        elif sp.is_unused(i):
            kind = gguf.TokenType.UNUSED
        types.append(kind)
    added = {i: t for t, i in AutoTokenizer.from_pretrained(checkpoint).get_vocab().items() if i >= sp.vocab_size()}
    for i in range(sp.vocab_size(), vocab_size):
        tokens.append((added.get(i) or f"[PAD{i}]").encode("utf-8"))
        scores.append(-1000.0)
        types.append(gguf.TokenType.USER_DEFINED if i in added else gguf.TokenType.UNUSED)
    return tokens, scores, types, sp


def export_gguf(checkpoint: str | os.PathLike, out: str | os.PathLike, qtype: str = "Q4_0") -> dict:
    """Write `out` from the HF checkpoint folder (config.json, safetensors, tokenizer.model + tokenizer.json)."""
    import gguf
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if qtype not in TYPES:
        raise ValueError(f"GGUF type {qtype!r}: use one of {TYPES}")
    checkpoint, out = Path(checkpoint), Path(out)
    config = AutoConfig.from_pretrained(checkpoint)
    if config.model_type not in ("mistral", "llama"):
        raise ValueError(f"{checkpoint}: model_type {config.model_type!r}; this writer knows Mistral / Llama")
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    ggml_type = gguf.GGMLQuantizationType[qtype]
    file_type = {"Q4_0": gguf.LlamaFileType.MOSTLY_Q4_0, "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
                 "F16": gguf.LlamaFileType.MOSTLY_F16, "F32": gguf.LlamaFileType.ALL_F32}[qtype]
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    tokens, scores, types, sp = _vocab(checkpoint, config.vocab_size)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(tmp, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    writer.add_name(checkpoint.parent.name if checkpoint.name == "final" else checkpoint.name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(getattr(config, "rope_theta", None) or config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(file_type)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(sp.bos_id())
    writer.add_eos_token_id(sp.eos_id())
    writer.add_unk_token_id(sp.unk_id())
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    counts: dict[str, int] = {}
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and config.tie_word_embeddings:
            continue  # llama.cpp reuses token_embd
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ValueError(f"{checkpoint}: no GGUF name for tensor {hf_name}")
        data = tensor.detach().cpu().numpy().astype(np.float32)
        if hf_name.endswith("q_proj.weight"):
            data = _permute(data, config.num_attention_heads)
        elif hf_name.endswith("k_proj.weight"):
            data = _permute(data, config.num_key_value_heads)
        kind = ggml_type if data.ndim == 2 else gguf.GGMLQuantizationType.F32
        if kind == gguf.GGMLQuantizationType.F16:
            data = data.astype(np.float16)
        elif kind != gguf.GGMLQuantizationType.F32:
            data = gguf.quants.quantize(data, kind)
        writer.add_tensor(name, data, raw_dtype=kind)
        counts[kind.name] = counts.get(kind.name, 0) + 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)
    return {"path": str(out), "type": qtype, "bytes": out.stat().st_size, "tensor_types": counts,
            "vocab_size": config.vocab_size}


def read_gguf(path: str | os.PathLike, reference: str | os.PathLike | None = None) -> dict:
    """What a GGUF file holds, read back with `gguf.GGUFReader`: architecture, shape keys, tensor types, and with
    a `reference` checkpoint the largest relative error of each dequantized weight against it."""
    import gguf

    reader = gguf.GGUFReader(path)

    def field(key: str):
        f = reader.fields[key]
        value = f.parts[f.data[0]]
        return bytes(value).decode() if f.types[0] == gguf.GGUFValueType.STRING else value.tolist()[0]

    arch = field("general.architecture")
    types: dict[str, int] = {}
    for t in reader.tensors:
        types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
    info = {"architecture": arch, "block_count": field(f"{arch}.block_count"),
            "embedding_length": field(f"{arch}.embedding_length"),
            "vocab_tokens": len(reader.fields["tokenizer.ggml.tokens"].data),
            "tensors": len(reader.tensors), "tensor_types": types}
    if reference is not None:
        from safetensors.numpy import load_file

        hf = load_file(Path(reference) / "model.safetensors")
        ours = {t.name: t for t in reader.tensors}
        emb = ours["token_embd.weight"]
        original = hf["model.embed_tokens.weight"].astype(np.float32)
        restored = gguf.quants.dequantize(emb.data, emb.tensor_type).reshape(original.shape)
        info["token_embd_relative_error"] = float(np.linalg.norm(restored - original) / np.linalg.norm(original))
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export an HF Mistral checkpoint to GGUF for llama.cpp.")
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--type", default="Q4_0", choices=TYPES)
    args = parser.parse_args(argv)
    print(json.dumps(export_gguf(args.checkpoint, args.out, args.type)))
    print(json.dumps(read_gguf(args.out)))


if __name__ == "__main__":
    main()
