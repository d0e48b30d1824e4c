"""The Mistral v1 tokenizer (32,000 pieces, bos 1 / eos 2) as a transformers fast tokenizer.

    from model_training.tokenizer import mistral_v1_tokenizer, save_tokenizer
    tok = mistral_v1_tokenizer()            # built offline from the model mistral-common ships
    tok("Hello").input_ids                  # [1, 22557], same ids as sentencepiece plus bos
    save_tokenizer("ckpt/")                 # tokenizer.json + tokenizer.model; AutoTokenizer loads it

Why not ``LlamaTokenizer.from_pretrained`` on the .model file: transformers 5 converts it through
sentencepiece's protobuf schema, which fails with the installed protobuf runtime, and transformers 5's
``LlamaTokenizer`` rebuilds its own normalizer on load, which tokenizes leading and repeated spaces
differently from sentencepiece. So the BPE is rebuilt here from sentencepiece's own API: merges ranked
by piece score (whitespace-only pieces have score -1e9 and so merge last, as in sentencepiece), the
sentencepiece normalization (prepend "▁", spaces to "▁"), and byte fallback. It matches
``SentencePieceProcessor.encode`` id for id.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path

import sentencepiece
from tokenizers import Tokenizer, decoders, normalizers, processors
from tokenizers.models import BPE
from transformers import PreTrainedTokenizerFast
from transformers.tokenization_utils_base import generate_merges

SPIECE = "▁"


def sentencepiece_model_path() -> Path:
    import mistral_common

    return Path(mistral_common.__file__).parent / "data" / "tokenizer.model.v1"


def _backend(model_path: Path) -> Tokenizer:
    sp = sentencepiece.SentencePieceProcessor(model_file=str(model_path))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    scores = {piece: sp.get_score(i) for i, piece in enumerate(pieces)}
    bos, unk = sp.id_to_piece(sp.bos_id()), sp.id_to_piece(sp.unk_id())
    backend = Tokenizer(BPE(vocab=vocab, merges=generate_merges(vocab, scores), unk_token=unk, fuse_unk=True, byte_fallback=True))
    backend.normalizer = normalizers.Sequence([normalizers.Prepend(SPIECE), normalizers.Replace(" ", SPIECE)])
    backend.decoder = decoders.Sequence(
        [decoders.Replace(SPIECE, " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, sp.bos_id())]
    )
    return backend


@functools.lru_cache(maxsize=1)
def mistral_v1_tokenizer() -> PreTrainedTokenizerFast:
    model_path = sentencepiece_model_path()
    return PreTrainedTokenizerFast(
        tokenizer_object=_backend(model_path),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=2048,
    )


def save_tokenizer(directory: str | os.PathLike) -> None:
    directory = Path(directory)
    mistral_v1_tokenizer().save_pretrained(directory)
    # The original sentencepiece model, for tools that want it (llama.cpp, slow tokenizers).
    shutil.copyfile(sentencepiece_model_path(), directory / "tokenizer.model")
    # transformers 5 writes its class name "TokenizersBackend", unknown to transformers 4; both
    # versions load "PreTrainedTokenizerFast" straight from tokenizer.json.
    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
