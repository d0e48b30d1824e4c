"""The Parquet lake under HARE_HOME/lake: paths and an atomic, streaming Parquet writer.

A materialization writes into a temporary folder and swaps it in at the end, so a failed or killed
run never leaves a half-written partition behind and a re-run replaces the old data whole.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq


def lake_root(home: Path) -> Path:
    return Path(home) / "lake"


def asset_dir(home: Path, asset: str, partition: str | None = None) -> Path:
    d = lake_root(home) / asset
    return d / partition if partition else d


def parquet_glob(home: Path, asset: str, partitioned: bool) -> str:
    return str(asset_dir(home, asset) / ("*/*.parquet" if partitioned else "*.parquet"))


class ParquetSink:
    """Streams record batches into `<dest>/part-NNNNN.parquet`, swapped in atomically on close.

    `rows_per_file` bounds file size; memory stays at one batch.
    """

    def __init__(self, dest: Path, schema: pa.Schema, rows_per_file: int = 500_000):
        self.dest = Path(dest)
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.rows = 0
        # Staged one level deeper than the partitions, so the warehouse's globs never see it.
        self._staging = self.dest.parent / ".staging"
        self._tmp = self._staging / f"{self.dest.name}.tmp-{uuid.uuid4().hex[:8]}"
        self._writer: pq.ParquetWriter | None = None
        self._file_rows = 0
        self._files = 0

    def __enter__(self) -> "ParquetSink":
        self._tmp.mkdir(parents=True, exist_ok=True)
        return self

    def write_rows(self, rows: list[dict]) -> None:
        if rows:
            self.write_table(pa.Table.from_pylist(rows, schema=self.schema))

    def write_table(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = table.select(self.schema.names).cast(self.schema)
        if self._writer is None or self._file_rows >= self.rows_per_file:
            self._roll()
        self._writer.write_table(table)
        self._file_rows += table.num_rows
        self.rows += table.num_rows

    def _roll(self) -> None:
        if self._writer is not None:
            self._writer.close()
        path = self._tmp / f"part-{self._files:05d}.parquet"
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self._files += 1
        self._file_rows = 0

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._writer is None and exc_type is None:
            self._roll()  # an empty table still gets a file, so readers see the schema
        if self._writer is not None:
            self._writer.close()
        if exc_type is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            return
        old = self._staging / f"{self.dest.name}.old-{uuid.uuid4().hex[:8]}"
        if self.dest.exists():
            os.replace(self.dest, old)
        os.replace(self._tmp, self.dest)
        shutil.rmtree(old, ignore_errors=True)


def write_table(dest: Path, table: pa.Table) -> int:
    """Write one whole table as a lake folder (for small, derived tables)."""
    with ParquetSink(dest, table.schema) as sink:
        sink.write_table(table)
    return sink.rows


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files under a lake folder, leaving out staging folders (their names start with a dot)."""
    return [f for f in sorted(Path(path).rglob("*.parquet"))
            if not any(p.startswith(".") for p in f.relative_to(path).parts)]


def parquet_rows(files: Iterable[Path]) -> int:
    """Rows of Parquet files from their footers (no data read)."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def read_table(path: Path, columns: list[str] | None = None) -> pa.Table:
    files = parquet_files(path)
    if not files:
        raise FileNotFoundError(f"no Parquet data under {path}: materialize its asset first")
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files], promote_options="default")


def head(path: Path, n: int = 5) -> pa.Table:
    """The first rows of a lake folder (for metadata previews), reading one file only."""
    f = pq.ParquetFile(sorted(Path(path).glob("*.parquet"))[0])
    return (f.read_row_group(0) if f.num_row_groups else f.schema_arrow.empty_table()).slice(0, n)


def stable_id(*parts: object) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:16]


def tree_hash(paths: Iterable[Path]) -> str:
    """Content hash of files (used as a data version)."""
    h = hashlib.sha256()
    for p in sorted(Path(x) for x in paths):
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:24]
