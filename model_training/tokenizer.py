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
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece
import tokenizers
from tokenizers import decoders, normalizers, processors
from tokenizers.models import BPE

from model_training.hashing import file_sha256

SPIECE = "▁"
TOKENIZER_FILE = "tokenizer.model.v1"
TOKENIZER_NAME = "mistral-v1 (mistral-common tokenizer.model.v1)"


def sentencepiece_model_path() -> Path:
    """The Mistral v1 sentencepiece model (vocab 32000, bos 1, eos 2) shipped with mistral-common."""
    import mistral_common

    path = Path(mistral_common.__file__).resolve().parent / "data" / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the installed mistral-common does not ship {TOKENIZER_FILE}")
    return path


class Tokenizer:
    """Sentencepiece over the Mistral v1 model; `encode_batch` adds neither BOS nor EOS."""

    def __init__(self, path: str | os.PathLike | None = None, num_threads: int | None = None):
        self.path = Path(path) if path is not None else sentencepiece_model_path()
        self._sp = sentencepiece.SentencePieceProcessor(model_file=str(self.path))
        self.num_threads = num_threads if num_threads is not None else (os.cpu_count() or 1)
        self.vocab_size: int = self._sp.vocab_size()
        self.bos_id: int = self._sp.bos_id()
        self.eos_id: int = self._sp.eos_id()
        self.sha256: str = file_sha256(self.path)

    def encode_batch(self, texts: Sequence[str | None]) -> list[list[int]]:
        texts = ["" if t is None else t for t in texts]
        if not texts:
            return []
        return self._sp.encode(texts, out_type=int, add_bos=False, add_eos=False, num_threads=self.num_threads)

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def decode(self, ids: Iterable[int]) -> str:
        return self._sp.decode([int(i) for i in ids])


@functools.lru_cache(maxsize=4)
def process_tokenizer(num_threads: int | None = None) -> Tokenizer:
    """This process's Mistral v1 tokenizer, loaded once (batch workers, local or Ray, call it per batch)."""
    return Tokenizer(num_threads=num_threads)


def encode_texts(texts: Sequence[str | None], num_threads: int | None = None) -> list[list[int]]:
    """The token ids of each text (no BOS or EOS): a module-level function, so a worker can run it."""
    return process_tokenizer(num_threads).encode_batch(texts)


def _backend(model_path: Path) -> tokenizers.Tokenizer:
    from transformers.tokenization_utils_base import generate_merges

    sp = sentencepiece.SentencePieceProcessor(model_file=str(model_path))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    scores = {piece: sp.get_score(i) for i, piece in enumerate(pieces)}
    bos, unk = sp.id_to_piece(sp.bos_id()), sp.id_to_piece(sp.unk_id())
    backend = tokenizers.Tokenizer(BPE(vocab=vocab, merges=generate_merges(vocab, scores), unk_token=unk, fuse_unk=True, byte_fallback=True))
    backend.normalizer = normalizers.Sequence([normalizers.Prepend(SPIECE), normalizers.Replace(" ", SPIECE)])
    backend.decoder = decoders.Sequence(
        [decoders.Replace(SPIECE, " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, sp.bos_id())]
    )
    return backend


@functools.lru_cache(maxsize=4)
def mistral_v1_tokenizer(chat_template: str | None = None):
    """A transformers PreTrainedTokenizerFast (imported here: the batch encoder above does not need transformers).

    `chat_template`: a template name of `model_training.chat_template`; the tokenizer then carries its
    text (`apply_chat_template`) and pads with <unk>, never with the EOS that ends a turn.
    """
    from transformers import PreTrainedTokenizerFast

    from model_training.chat_template import PAD_TOKEN, template_text

    model_path = sentencepiece_model_path()
    chat = {"chat_template": template_text(chat_template), "pad_token": PAD_TOKEN} if chat_template else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=_backend(model_path),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=2048,
        **chat,
    )


def save_tokenizer(directory: str | os.PathLike, chat_template: str | None = None, functional_tokens: int = 0) -> None:
    """`functional_tokens`: a tool checkpoint's tokenizer, with that many functions' tokens added."""
    from model_training.functional_tokens import functional_tokenizer

    directory = Path(directory)
    tokenizer = functional_tokenizer(functional_tokens, chat_template) if functional_tokens else mistral_v1_tokenizer(chat_template)
    tokenizer.save_pretrained(directory)
    # The original sentencepiece model, for tools that want it (llama.cpp, slow tokenizers).
    shutil.copyfile(sentencepiece_model_path(), directory / "tokenizer.model")
    # transformers 5 writes its class name "TokenizersBackend", unknown to transformers 4; both
    # versions load "PreTrainedTokenizerFast" straight from tokenizer.json.
    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
