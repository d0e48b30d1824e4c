"""core.lake's staged commits: several folders swapped in as one, discarded together on an error, and a
commit or staging left by a dead writer finished or removed by the next one."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hare_assets.core.lake import (
    ParquetSink,
    read_table,
    recover_staging,
    staged,
    write_table,
)

SCHEMA = pa.schema([("x", pa.int64())])


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def rows(folder) -> list[int]:
    return read_table(folder)["x"].to_pylist()


def test_an_error_discards_every_staged_folder_and_success_swaps_all(tmp_path):
    a, b = tmp_path / "a" / "p", tmp_path / "b" / "p"
    write_table(a, pa.table({"x": [1]}, schema=SCHEMA))
    write_table(b, pa.table({"x": [2]}, schema=SCHEMA))
    with pytest.raises(RuntimeError, match="boom"):
        with staged(ParquetSink(a, SCHEMA), ParquetSink(b, SCHEMA)) as (sa, sb):
            sa.write_rows([{"x": 10}])
            sb.write_rows([{"x": 20}])
            raise RuntimeError("boom")
    assert (rows(a), rows(b)) == ([1], [2])
    with staged(ParquetSink(a, SCHEMA), ParquetSink(b, SCHEMA)) as (sa, sb):
        sa.write_rows([{"x": 10}])
        sb.write_rows([{"x": 20}])
        assert (rows(a), rows(b)) == ([1], [2])  # nothing visible before the commit
    assert (rows(a), rows(b)) == ([10], [20])
    assert list((tmp_path / "a" / ".staging").iterdir()) == [] and list((tmp_path / "b" / ".staging").iterdir()) == []


def test_row_groups_by_stores_each_run_of_a_value_as_its_own_row_group(tmp_path):
    schema = pa.schema([("band", pa.int16()), ("x", pa.int64())])
    dest = tmp_path / "t" / "p"
    with ParquetSink(dest, schema, row_groups_by="band") as sink:
        sink.write_table(pa.table({"band": [0, 0, 1, 1, 1, 2], "x": [0, 1, 2, 3, 4, 5]}, schema=schema))
        sink.write_table(pa.table({"band": [0, 1], "x": [6, 7]}, schema=schema))
    meta = pq.ParquetFile(next(dest.glob("*.parquet"))).metadata
    groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    # min = max per row group: a reader filtering on band skips every other group by its statistics.
    assert [(g.column(0).statistics.min, g.column(0).statistics.max, g.num_rows) for g in groups] == [
        (0, 0, 2), (1, 1, 3), (2, 2, 1), (0, 0, 1), (1, 1, 1)]
    assert rows(dest) == list(range(8))


def test_a_dead_writers_commit_is_finished_and_its_leftovers_removed(tmp_path):
    dest = tmp_path / "t" / "p"
    write_table(dest, pa.table({"x": [1]}, schema=SCHEMA))
    staging, pid = dest.parent / ".staging", dead_pid()
    # What a writer killed half-way through a commit leaves: dest already moved aside, tmp not yet in.
    tmp, old = staging / f"p.tmp-{pid}-aaaa", staging / f"p.old-{pid}-aaaa"
    write_table(tmp_path / "new", pa.table({"x": [7]}, schema=SCHEMA))
    (tmp_path / "new").rename(tmp)
    dest.rename(old)
    (staging / f"commit-{pid}-aaaa.json").write_text(json.dumps({"moves": [[str(tmp), str(dest), str(old)]]}))
    (staging / f"commit-{pid}-bbbb.part").write_text('{"mo')  # a journal cut short: never acted on
    (staging / f"q.tmp-{pid}-cccc").mkdir()  # a staged folder that never reached its commit
    recover_staging(staging)
    assert rows(dest) == [7] and list(staging.iterdir()) == []
