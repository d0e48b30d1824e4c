"""Tokenization (Mistral v1 sentencepiece) and packing into fixed-length uint16 shards (hare-packed-v2).

Pure code: no Dagster. The on-disk format is datatrove's tokenized-file format (the `.ds` files its
`DocumentTokenizer` writes and `datatrove.utils.dataset.DatatroveFolderDataset` / nanotron read),
plus our JSON manifest, which `model_training/data.py` (`open_packed_shards`) reads:

    out_dir/manifest.json         {"format": "hare-packed-v2", "seq_len": L, "dtype": "uint16", "eos_id": 2,
                                   "token_size": 2, "shards": [{"file": "shard-00000.ds", "sequences": n}, ...],
                                   "total_sequences", "total_tokens", "dropped_tail_tokens", "documents",
                                   "shuffle", ...extra (run, tokenizer and its sha256, source mix)}
    out_dir/shard-NNNNN.ds        n * (L + 1) uint16 little-endian token ids, one packed sequence per
                                  L + 1 tokens: `DatatroveFolderDataset(out_dir, seq_len=L)[i]` is row i
    out_dir/shard-NNNNN.ds.index  uint64 little-endian token offsets where a document piece ends in that
                                  file: after every EOS and at every row end (rows are shuffled, so the
                                  next row starts another piece); datatrove's `return_positions` uses it
    out_dir/shard-NNNNN.ds.metadata  datatrove's lines: "tokenizer|token_size", the token count, a readable count

Format history: hare-packed-v1 had the same row bytes in `shard-NNNNN.bin` without index files; the
training loader reads both.

Packing: documents are concatenated in the order given, each followed by EOS (no BOS), and the stream
is cut into rows of L + 1 tokens (inputs row[:-1], labels row[1:]); consecutive rows do not overlap,
and the trailing remainder shorter than a row is dropped and counted (`dropped_tail_tokens`).

Fine-tuning rows (`pack_samples`): one sample (chat conversation: ids and loss mask) per row,
right-padded with the pad id and mask 0, so a row never mixes two samples and no sample attends to
another (no cross-sample attention mask is needed: padding comes after the sample, and attention is
causal). A sample longer than a row is dropped and counted (`too_long_samples`). The manifest then
says `"loss_mask": true` and each shard has a `shard-NNNNN.mask` (uint8, same shape), shuffled with
its rows.

Shuffling (deterministic for a seed): rows are gathered into a buffer of `shard_sequences` rows; each
full buffer is permuted with a generator seeded by (seed, buffer number) and written as one shard.
When the whole run fits in one buffer (the sample corpus) this is a uniform shuffle of the whole run;
for large runs memory stays bounded at one shard (4096 x 2049 x 2 bytes = 16 MiB at the paper's
sequence length) and rows move only within their shard. That is enough here because the packer reads
documents in the plan's `order`, already a seeded global shuffle of the documents (and the trainer
permutes all rows again each epoch); the buffer breaks up the consecutive rows of a long document.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from model_training.tokenizer import TOKENIZER_NAME

FORMAT = "hare-packed-v2"
SHARD_SUFFIX = ".ds"
MASK_SUFFIX = ".mask"  # fine-tuning shards: the loss mask beside shard-NNNNN.ds, same shape, uint8
INDEX_SUFFIX = ".index"  # datatrove appends it to the shard name: shard-00000.ds.index
DTYPE = np.uint16
_ROWS_PER_BLOCK = 1024


class Packer:
    """Iterator of uint16 blocks (k, seq_len + 1); counters are final once it is exhausted.

    documents, input_tokens (document tokens + one EOS each), sequences, dropped_tail_tokens.
    """

    def __init__(self, token_lists: Iterable[Sequence[int]], seq_len: int, eos_id: int,
                 rows_per_block: int = _ROWS_PER_BLOCK):
        if seq_len < 1:
            raise ValueError("seq_len must be >= 1")
        if not 0 <= eos_id <= np.iinfo(DTYPE).max:
            raise ValueError(f"eos id {eos_id} does not fit {np.dtype(DTYPE).name}")
        self.seq_len, self.eos_id = seq_len, eos_id
        self.row_len = seq_len + 1
        self.block_tokens = self.row_len * max(1, rows_per_block)
        self.documents = self.input_tokens = self.sequences = self.dropped_tail_tokens = 0
        self.finished = False
        self._it = self._blocks(iter(token_lists))

    def __iter__(self) -> "Packer":
        return self

    def __next__(self) -> np.ndarray:
        return next(self._it)

    def _docs_array(self, docs: list[Sequence[int]], lengths: list[int]) -> np.ndarray:
        """The documents' ids, each followed by EOS, as one uint16 array: one conversion per block."""
        lengths_arr = np.asarray(lengths, np.int64)
        n_ids = int(lengths_arr.sum())
        ids = np.fromiter(itertools.chain.from_iterable(docs), np.int64, n_ids)
        if n_ids and (ids.min() < 0 or ids.max() > np.iinfo(DTYPE).max):
            raise ValueError(f"token ids outside 0..{np.iinfo(DTYPE).max} cannot be stored as {np.dtype(DTYPE).name}")
        out = np.empty(n_ids + len(docs), DTYPE)
        eos_at = np.cumsum(lengths_arr + 1) - 1
        is_id = np.ones(len(out), bool)
        is_id[eos_at] = False
        out[eos_at] = self.eos_id
        out[is_id] = ids
        return out

    def _blocks(self, token_lists: Iterator[Sequence[int]]) -> Iterator[np.ndarray]:
        # Documents are gathered as they come and converted together once a block's worth is in,
        # so the blocks (and the counters at each yield) are the same as converting one at a time.
        carry = np.zeros(0, DTYPE)
        docs: list[Sequence[int]] = []
        lengths: list[int] = []
        buffered = 0
        for ids in token_lists:
            n = len(ids)
            self.documents += 1
            self.input_tokens += n + 1
            docs.append(ids)
            lengths.append(n)
            buffered += n + 1
            if buffered >= self.block_tokens:
                flat = np.concatenate([carry, self._docs_array(docs, lengths)])
                docs, lengths = [], []
                rows = len(flat) // self.row_len
                cut = rows * self.row_len
                carry, buffered = flat[cut:], len(flat) - cut
                self.sequences += rows
                yield flat[:cut].reshape(rows, self.row_len)
        flat = np.concatenate([carry, self._docs_array(docs, lengths)]) if docs else carry
        rows = len(flat) // self.row_len
        cut = rows * self.row_len
        self.dropped_tail_tokens = len(flat) - cut
        self.sequences += rows
        self.finished = True
        if rows:
            yield flat[:cut].reshape(rows, self.row_len)


def pack(token_lists: Iterable[Sequence[int]], seq_len: int, eos_id: int) -> Packer:
    """Documents + EOS concatenated and cut into rows of seq_len + 1 uint16 tokens (blocks of rows).

    The returned iterator also counts `dropped_tail_tokens` (the remainder shorter than a row).
    """
    return Packer(token_lists, seq_len, eos_id)


class SamplePacker:
    """Iterator of (k, 2, seq_len + 1) uint16 blocks, [:, 0] ids and [:, 1] loss mask, one sample per row.

    Counters, final once exhausted: documents (samples read), sequences, too_long_samples, label_tokens.
    """

    def __init__(self, samples: Iterable[tuple[Sequence[int], Sequence[int]]], seq_len: int, pad_id: int,
                 eos_id: int, rows_per_block: int = _ROWS_PER_BLOCK):
        self.seq_len, self.pad_id, self.eos_id = seq_len, pad_id, eos_id
        self.row_len = seq_len + 1
        self.rows_per_block = max(1, rows_per_block)
        self.documents = self.sequences = self.too_long_samples = self.label_tokens = 0
        self.dropped_tail_tokens = 0
        self._it = self._blocks(iter(samples))

    def __iter__(self) -> "SamplePacker":
        return self

    def __next__(self) -> np.ndarray:
        return next(self._it)

    def _blocks(self, samples: Iterator[tuple[Sequence[int], Sequence[int]]]) -> Iterator[np.ndarray]:
        block = np.zeros((self.rows_per_block, 2, self.row_len), DTYPE)
        filled = 0
        for ids, mask in samples:
            self.documents += 1
            if len(ids) > self.row_len:
                self.too_long_samples += 1
                continue
            if len(ids) != len(mask):
                raise ValueError(f"sample {self.documents}: {len(ids)} ids but {len(mask)} mask entries")
            block[filled, 0, :] = self.pad_id
            block[filled, 0, : len(ids)] = ids
            block[filled, 1, :] = 0
            block[filled, 1, : len(mask)] = mask
            self.label_tokens += int(np.count_nonzero(mask[1:]))  # the first token is never a label
            filled += 1
            if filled == self.rows_per_block:
                self.sequences += filled
                yield block.copy()
                filled = 0
        self.sequences += filled
        if filled:
            yield block[:filled].copy()


def pack_samples(samples: Iterable[tuple[Sequence[int], Sequence[int]]], seq_len: int, pad_id: int,
                 eos_id: int) -> SamplePacker:
    """Fine-tuning samples (ids, loss mask) one per row of seq_len + 1, right-padded (see the module doc)."""
    return SamplePacker(samples, seq_len, pad_id, eos_id)


def _rows(blocks: Iterable[np.ndarray], row_len: int) -> Iterator[np.ndarray]:
    for block in blocks:
        block = np.asarray(block)
        if block.shape[-1] != row_len or block.ndim not in (2, 3) or (block.ndim == 3 and block.shape[1] != 2):
            raise ValueError(f"packed rows must have shape (k, {row_len}) or (k, 2, {row_len}), got {block.shape}")
        yield block.astype(DTYPE, copy=False)


def write_shards(out_dir: str | os.PathLike, rows_iter: Iterable[np.ndarray], seq_len: int, shard_sequences: int,
                 seed: int, manifest_extra: dict | None = None, *, eos_id: int | None = None,
                 tokenizer_name: str = TOKENIZER_NAME) -> dict:
    """Shuffle rows within buffers of `shard_sequences` rows and write shards + manifest.json.

    `rows_iter` yields (k, seq_len + 1) blocks, or (k, 2, seq_len + 1) ids + loss mask blocks (a
    `SamplePacker`: the masks go to `shard-NNNNN.mask`); a packer's counters (EOS id, dropped tail,
    documents) go into the manifest. `eos_id` defaults to the packer's, else Mistral v1's (2).

    Writes into `out_dir` as it is: the caller stages it (core.lake.staged) so the previous complete
    output stays until the new one is swapped in. Returns the manifest.
    """
    if shard_sequences < 1:
        raise ValueError("shard_sequences must be >= 1")
    out_dir = Path(out_dir)
    row_len = seq_len + 1
    out_dir.mkdir(parents=True, exist_ok=True)
    shards: list[dict] = []

    eos = int(eos_id if eos_id is not None else getattr(rows_iter, "eos_id", 2))

    masked = isinstance(rows_iter, SamplePacker)

    def flush(buffer: np.ndarray) -> None:
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF, len(shards)])
        name = f"shard-{len(shards):05d}{SHARD_SUFFIX}"
        rows = buffer[rng.permutation(len(buffer))]
        ids = rows[:, 0] if masked else rows
        ids.astype("<u2", copy=False).tofile(out_dir / name)
        _write_datatrove_sidecars(out_dir / name, ids, eos, tokenizer_name)
        shards.append({"file": name, "sequences": int(len(buffer))})
        if masked:
            mask_name = f"shard-{len(shards) - 1:05d}{MASK_SUFFIX}"
            rows[:, 1].astype(np.uint8).tofile(out_dir / mask_name)
            shards[-1]["mask_file"] = mask_name

    buffer = np.empty((shard_sequences, 2, row_len) if masked else (shard_sequences, row_len), DTYPE)
    filled = 0
    for block in _rows(rows_iter, row_len):
        if (block.ndim == 3) != masked:
            raise ValueError("loss-mask blocks come from a SamplePacker, and only from one")
        start = 0
        while start < len(block):
            take = min(shard_sequences - filled, len(block) - start)
            buffer[filled:filled + take] = block[start:start + take]
            filled += take
            start += take
            if filled == shard_sequences:
                flush(buffer)
                filled = 0
    if filled:
        flush(buffer[:filled])
    total = sum(s["sequences"] for s in shards)
    manifest = {
        "format": FORMAT, "seq_len": int(seq_len), "dtype": np.dtype(DTYPE).name, "eos_id": eos,
        "token_size": np.dtype(DTYPE).itemsize,
        "layout": "datatrove .ds + .ds.index (DatatroveFolderDataset(folder, seq_len=seq_len), nanotron)",
        "shards": shards, "total_sequences": total, "total_tokens": total * row_len,
        "dropped_tail_tokens": int(getattr(rows_iter, "dropped_tail_tokens", 0)),
        "documents": int(getattr(rows_iter, "documents", 0)),
        "shuffle": {"seed": int(seed), "buffer_sequences": int(shard_sequences)},
        **({"loss_mask": True, "too_long_samples": rows_iter.too_long_samples,
            "label_tokens": rows_iter.label_tokens} if masked else {}),
        **(manifest_extra or {}),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return manifest


def _write_datatrove_sidecars(shard: Path, rows: np.ndarray, eos_id: int, tokenizer_name: str) -> None:
    """`<shard>.index` (uint64 ends of document pieces, in tokens) and `<shard>.metadata`, as
    datatrove's TokenizedFile writes them."""
    flat = rows.reshape(-1)
    row_ends = np.arange(1, len(rows) + 1, dtype=np.uint64) * np.uint64(rows.shape[1])
    eos_ends = np.flatnonzero(flat == eos_id).astype(np.uint64) + np.uint64(1)
    np.union1d(eos_ends, row_ends).astype("<u8").tofile(shard.with_name(shard.name + INDEX_SUFFIX))
    with open(shard.with_name(shard.name + ".metadata"), "w") as f:
        f.write(f"{tokenizer_name}|{flat.dtype.itemsize}\n{flat.size}\n{flat.size:,} tokens")
