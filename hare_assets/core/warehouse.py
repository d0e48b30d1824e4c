"""The DuckDB warehouse at HARE_HOME/warehouse.duckdb: one view or table per table-like asset.

Views point at the Parquet lake, so a re-materialized asset is visible without rewriting the view.
DuckDB allows one writer process at a time, so `connect_duckdb` retries (with jittered backoff) while
another process holds the file; the warehouse and the request cache both connect through it, and
their writes are short (DDL or small tables).
"""

from __future__ import annotations

import os
import random
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa

# How long a writer waits for another process to let go of the file (HARE_WAREHOUSE_LOCK_WAIT_S).
LOCK_WAIT_S = float(os.environ.get("HARE_WAREHOUSE_LOCK_WAIT_S", 120))
# Lock held by another process, or (same process, another thread) a connection with another mode.
_LOCK_MARKERS = ("lock", "conflicting", "resource temporarily unavailable", "different configuration")


class DuckDBLockTimeout(RuntimeError):
    """The database file stayed locked by another process for longer than the wait allowed."""


@contextmanager
def connect_duckdb(path: Path, read_only: bool = False,
                   lock_wait_s: float = LOCK_WAIT_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the DuckDB file at `path`, waiting up to `lock_wait_s` for another writer."""
    deadline = time.monotonic() + lock_wait_s
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except (duckdb.IOException, duckdb.ConnectionException) as e:
            if not any(m in str(e).lower() for m in _LOCK_MARKERS):
                raise
            if time.monotonic() >= deadline:
                holder = re.search(r"held in (.*?\(PID \d+\))", str(e))
                raise DuckDBLockTimeout(
                    f"{path} stayed locked for {lock_wait_s:g}s by {holder.group(1) if holder else 'another process'}: "
                    "close that DuckDB connection (a notebook, the duckdb shell, a BI tool) and re-run; "
                    "DuckDB lets no process write while another holds the file, even read-only, so readers "
                    f"should connect, query and close (wait longer: HARE_WAREHOUSE_LOCK_WAIT_S). ({e})") from e
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)
    try:
        yield con
    finally:
        con.close()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Warehouse:
    def __init__(self, path: Path):
        self.path = Path(path)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not self.path.exists():
            raise FileNotFoundError(f"no warehouse at {self.path}: materialize an asset first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with connect_duckdb(self.path, read_only) as con:
            yield con

    def register_view(self, name: str, parquet_glob: str) -> None:
        sql = (f"CREATE OR REPLACE VIEW {quote_ident(name)} AS SELECT * FROM "
               f"read_parquet({quote_literal(parquet_glob)}, union_by_name = true)")
        with self.connect() as con:
            con.execute(sql)

    def replace_table(self, name: str, table: pa.Table) -> None:
        with self.connect() as con:
            con.register("incoming", table)
            con.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS SELECT * FROM incoming")

    def execute_script(self, name: str, select_sql: str) -> int:
        """Materialize a SELECT as table `name`; returns its row count."""
        with self.connect() as con:
            con.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS {select_sql}")
            return con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0]

    def relations(self) -> list[str]:
        with self.connect(read_only=True) as con:
            return [r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]


def duckdb_limits(con: duckdb.DuckDBPyConnection, memory_limit: str, temp_directory: str | Path) -> None:
    """Bounded memory: DuckDB spills joins, sorts and temp tables to `temp_directory` past `memory_limit`."""
    Path(temp_directory).mkdir(parents=True, exist_ok=True)
    con.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
    con.execute(f"SET temp_directory = {quote_literal(str(temp_directory))}")
    con.execute("SET preserve_insertion_order = false")  # every result that needs an order says ORDER BY
