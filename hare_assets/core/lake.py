"""The Parquet lake under HARE_HOME/lake: paths and an atomic, streaming Parquet writer.

A materialization writes into a staging folder and swaps it in at the end, so a failed or killed run
never leaves a half-written partition behind and a re-run replaces the old data whole. The folders
of one step (documents and their quarantine, kept rows and rejections) are swapped in as one commit
(`staged`): its moves are written to a journal first, and the next writer (or run start:
`recover_lake`) finishes a commit that a kill interrupted. Staging left by a killed process is removed
then too. Process liveness decides what is stale, so the lake is meant for writers on one host.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

STAGING = ".staging"
_NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class LakeFullError(OSError):
    """A lake write ran out of space (disk full, quota, or a file size limit)."""


def lake_root(home: Path) -> Path:
    return Path(home) / "lake"


def asset_dir(home: Path, asset: str, partition: str | None = None) -> Path:
    d = lake_root(home) / asset
    return d / partition if partition else d


def parquet_glob(home: Path, asset: str, partitioned: bool) -> str:
    return str(asset_dir(home, asset) / ("*/*.parquet" if partitioned else "*.parquet"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(name: str) -> int | None:
    """The pid in a staging name (`<dest>.tmp-<pid>-<id>`, `<dest>.old-<pid>-<id>`, `commit-<pid>-<id>.json`);
    None for other names (a resumable folder that is kept)."""
    if not (".tmp-" in name or ".old-" in name or name.startswith("commit-")):
        return None
    try:
        return int(name.rsplit("-", 2)[-2])
    except (IndexError, ValueError):
        return None


def _roll_forward(moves: list[list[str]]) -> None:
    """Swap each staged folder in (idempotent: a move already made is skipped), then drop the old ones."""
    for tmp, dest, old in moves:
        if os.path.exists(tmp):
            if os.path.exists(dest):
                os.replace(dest, old)
            os.replace(tmp, dest)
    for _, _, old in moves:
        shutil.rmtree(old, ignore_errors=True)


def recover_staging(staging: Path) -> None:
    """Finish the commits and remove the staging of writers that died (a live writer's are left alone)."""
    if not staging.is_dir():
        return
    for journal in sorted(staging.glob("commit-*.json")):
        pid = _owner(journal.stem)
        if pid is not None and _alive(pid):
            continue
        try:
            moves = json.loads(journal.read_text())["moves"]
        except (OSError, ValueError, KeyError):  # a journal cut short was never acted on
            journal.unlink(missing_ok=True)
            continue
        _roll_forward(moves)
        for copy in {Path(t).parent / journal.name for t, _, _ in moves}:
            copy.unlink(missing_ok=True)
    for leftover in staging.iterdir():  # staged folders, old versions, journals cut short (.part)
        pid = _owner(leftover.name)
        if pid is None or _alive(pid):
            continue
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def recover_lake(home: Path) -> None:
    """Run recover_staging over every staging folder of the lake."""
    root = lake_root(home)
    for staging in [root / STAGING, *root.glob(f"*/{STAGING}")]:
        recover_staging(staging)


def no_space_error(e: OSError, path: str) -> LakeFullError | None:
    """A clear error for a write that ran out of space, or None when `e` is something else."""
    text = str(e)
    if e.errno not in _NO_SPACE and "No space left" not in text and "File too large" not in text:
        return None
    return LakeFullError(errno.ENOSPC, f"no space left writing {path} ({text}); the previous version of "
                         f"{path} is kept: free space there or point HARE_HOME at a larger disk")


class StagedDir:
    """A folder written in staging (`tmp`) and swapped in at `dest` by `staged`."""

    def __init__(self, dest: Path):
        self.dest = Path(dest)
        # Staged one level deeper than the partitions, so the warehouse's globs never see it.
        self.staging = self.dest.parent / STAGING
        tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.tmp = self.staging / f"{self.dest.name}.tmp-{tag}"
        self.old = self.staging / f"{self.dest.name}.old-{tag}"

    def open(self) -> None:
        recover_staging(self.staging)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def finish(self) -> None:
        """Called before the swap: flush what is still buffered."""

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        self._alone = staged(self)
        self._alone.__enter__()
        return self

    def __exit__(self, *exc) -> bool | None:
        return self._alone.__exit__(*exc)


S = TypeVar("S", bound=StagedDir)


@contextmanager
def staged(*items: S) -> Iterator[tuple[S, ...]]:
    """Open the staged folders; on success swap them all in as one commit, on an error discard them
    (the previous versions stay). A write that runs out of space raises LakeFullError naming the folder."""
    opened: list[StagedDir] = []
    try:
        for item in items:
            item.open()
            opened.append(item)
        yield items
        for item in items:
            item.finish()
    except BaseException as e:
        for item in opened:
            item.discard()
        full = no_space_error(e, ", ".join(str(i.dest) for i in items)) if isinstance(e, OSError) else None
        if full is not None:
            raise full from e
        raise
    commit(items)


def commit(items: Iterable[StagedDir]) -> None:
    """Swap staged folders in: the journal (one copy per staging folder) makes a kill mid-way finishable."""
    items = list(items)
    name = f"commit-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
    moves = [[str(i.tmp), str(i.dest), str(i.old)] for i in items]
    journals = sorted({i.staging / name for i in items})
    for journal in journals:
        part = journal.with_suffix(".part")
        part.write_text(json.dumps({"moves": moves}))
        os.replace(part, journal)
    _roll_forward(moves)
    for journal in journals:
        journal.unlink(missing_ok=True)


class ParquetSink(StagedDir):
    """Streams record batches into `<dest>/part-NNNNN.parquet`, swapped in atomically on close
    (alone as a context manager, or with other folders through `staged`).

    `rows_per_file` bounds file size; memory stays at one batch. `row_groups_by`: a column the written
    tables are sorted by; each run of one value becomes its own row group, so a reader filtering on that
    column skips the other row groups by their statistics.
    """

    def __init__(self, dest: Path, schema: pa.Schema, rows_per_file: int = 500_000,
                 row_groups_by: str | None = None):
        super().__init__(dest)
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.row_groups_by = row_groups_by
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._file_rows = 0
        self._files = 0

    def write_rows(self, rows: list[dict]) -> None:
        if rows:
            self.write_table(pa.Table.from_pylist(rows, schema=self.schema))

    def write_table(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = table.select(self.schema.names).cast(self.schema)
        if self._writer is None or self._file_rows >= self.rows_per_file:
            self._roll()
        if self.row_groups_by is None:
            self._writer.write_table(table)
        else:
            values = table[self.row_groups_by].to_numpy()
            starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]).tolist() + [table.num_rows]
            for start, end in zip(starts, starts[1:]):
                self._writer.write_table(table.slice(start, end - start))
        self._file_rows += table.num_rows
        self.rows += table.num_rows

    def _roll(self) -> None:
        if self._writer is not None:
            self._writer.close()
        path = self.tmp / f"part-{self._files:05d}.parquet"
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self._files += 1
        self._file_rows = 0

    def finish(self) -> None:
        if self._writer is None:
            self._roll()  # an empty table still gets a file, so readers see the schema
        self._writer.close()

    def discard(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except OSError:  # a full disk fails the close too; the folder goes either way
                pass
        super().discard()


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
