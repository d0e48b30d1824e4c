"""Memory-mapped reader of the packed token shards written by the platform's tokenization stage.

Shard format ``hare-packed-v2`` (the contract with ``tokenized_shards``): a directory holding
``manifest.json``::

    {"format": "hare-packed-v2", "seq_len": L, "dtype": "uint16", "eos_id": 2,
     "shards": [{"file": "shard-00000.ds", "sequences": n}, ...], ...other keys}

and the shards, each ``n * (L + 1)`` tokens, row-major: one packed sequence of ``L + 1`` tokens per
row, so a row gives inputs ``row[:-1]`` and labels ``row[1:]`` without padding. Fine-tuning shards
(``"loss_mask": true``, written by the chat SFT path) add per shard a ``"mask_file"`` of the same
shape in uint8: 1 where the token is a label that counts in the loss (assistant tokens and their
end-of-turn), 0 elsewhere (system and user turns, role headers, padding). Each such row holds one
sample, padded, so samples never attend to each other. The ``.ds`` files
(with their ``.ds.index``) are datatrove's tokenized format, so ``DatatroveFolderDataset`` and
nanotron read the same shards. ``hare-packed-v1`` (the same rows in ``.bin`` files) reads the same way.

    data = PackedSequences("shards/", seq_len=1024)      # crop rows to 1024 + 1 tokens
    for step, batch in enumerate(data.batches(batch_size=8, start_step=0, seed=0)):
        inputs, labels = batch[:, :-1], batch[:, 1:]        # (8, L + 1) token ids
        # with a loss mask the batch is (8, 2, L + 1): batch[:, 0] the ids, batch[:, 1] the mask

``open_packed_shards`` is the only code that knows the file format; the order and the resumable
position below work on the rows it returns. ``batches`` is an endless stream over epochs, each epoch a seeded permutation of all rows; batch
``k`` is a pure function of (seed, batch_size, k), so a resumed run asks for ``start_step=k`` and
sees exactly the rows it would have seen.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

FORMATS = ("hare-packed-v1", "hare-packed-v2")


@dataclass(frozen=True)
class ShardRows:
    """What the loader needs from a shard folder, whatever the file format: rows of seq_len + 1 tokens."""

    seq_len: int
    shards: list[np.ndarray]  # each (rows, seq_len + 1), memory-mapped
    manifest: dict
    masks: list[np.ndarray] | None = None  # the loss masks, shaped like the shards, where the manifest has them


def open_packed_shards(directory: str | os.PathLike) -> ShardRows:
    """The file-format parsing, in one place: the manifest (v1 or v2) and its memory-mapped shards."""
    directory = Path(directory)
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    if manifest.get("format") not in FORMATS:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, expected one of {FORMATS}")
    for key in ("seq_len", "dtype", "shards"):
        if key not in manifest:
            raise ValueError(f"{path}: missing key {key!r}")
    dtype = np.dtype(manifest["dtype"])
    if dtype.kind != "u":
        raise ValueError(f"{path}: dtype {manifest['dtype']!r} is not an unsigned integer type")
    row_len = int(manifest["seq_len"]) + 1
    masked = bool(manifest.get("loss_mask"))
    shards, masks = [], []
    for shard in manifest["shards"]:
        sequences = int(shard["sequences"])
        if sequences == 0:  # memmap cannot map 0 bytes
            continue
        shards.append(_map(directory / shard["file"], dtype, sequences, row_len))
        if masked:
            if "mask_file" not in shard:
                raise ValueError(f"{path}: loss_mask is set but shard {shard['file']} has no mask_file")
            masks.append(_map(directory / shard["mask_file"], np.dtype(np.uint8), sequences, row_len))
    return ShardRows(row_len - 1, shards, manifest, masks if masked else None)


def _map(file: Path, dtype: np.dtype, sequences: int, row_len: int) -> np.ndarray:
    expected, actual = sequences * row_len * dtype.itemsize, file.stat().st_size
    if actual != expected:
        raise ValueError(f"{file}: {actual} bytes, manifest implies {sequences} x {row_len} x {dtype.itemsize} = {expected}")
    return np.memmap(file, dtype=dtype, mode="r", shape=(sequences, row_len))


class PackedSequences:
    """Rows of ``seq_len + 1`` token ids across all shards of one directory, in a seeded, resumable order."""

    def __init__(self, directory: str | os.PathLike, seq_len: int | None = None):
        self.directory = Path(directory)
        opened = open_packed_shards(self.directory)
        self.manifest = opened.manifest
        self.stored_seq_len = opened.seq_len
        self.seq_len = self.stored_seq_len if seq_len is None else int(seq_len)
        if not 0 < self.seq_len <= self.stored_seq_len:
            raise ValueError(f"seq_len {self.seq_len} must be in 1..{self.stored_seq_len} (the shards' length)")
        self._shards = opened.shards
        self._masks = opened.masks
        self._starts = np.cumsum([0] + [len(s) for s in self._shards])
        if len(self) == 0:
            raise ValueError(f"{self.directory}: no sequences")

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def has_loss_mask(self) -> bool:
        return self._masks is not None

    def __getitem__(self, index: int) -> np.ndarray:
        """Row `index`: (seq_len + 1,) int64 ids, or (2, seq_len + 1) ids and loss mask when the shards have one."""
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        shard = int(np.searchsorted(self._starts, index, side="right")) - 1
        row = index - self._starts[shard]
        ids = self._shards[shard][row, : self.seq_len + 1].astype(np.int64)
        if self._masks is None:
            return ids
        return np.stack([ids, self._masks[shard][row, : self.seq_len + 1].astype(np.int64)])

    @property
    def tokens_per_row(self) -> int:
        """Tokens trained on per row (labels; the extra input token is not a prediction)."""
        return self.seq_len

    def epoch_order(self, epoch: int, seed: int) -> np.ndarray:
        return np.random.default_rng([seed, epoch]).permutation(len(self))

    def batches(self, batch_size: int, start_step: int = 0, seed: int = 0) -> Iterator[torch.Tensor]:
        """Endless (batch_size, seq_len + 1) int64 batches ((batch_size, 2, seq_len + 1) with a loss mask),
        starting at batch number ``start_step``.

        Rows are drawn as one stream over consecutive epochs, so a batch may straddle two epochs
        and no row is dropped.
        """
        position = start_step * batch_size
        epoch, order = -1, None
        while True:
            rows = []
            for p in range(position, position + batch_size):
                if p // len(self) != epoch:
                    epoch = p // len(self)
                    order = self.epoch_order(epoch, seed)
                rows.append(self[int(order[p % len(self)])])
            position += batch_size
            yield torch.from_numpy(np.stack(rows))
