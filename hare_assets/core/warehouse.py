"""The DuckDB warehouse at HARE_HOME/warehouse.duckdb: one view or table per table-like asset.

Views point at the Parquet lake, so a re-materialized asset is visible without rewriting the view.
DuckDB allows one writer process at a time, so writes retry briefly while another process holds
the file; they are short (DDL or small tables).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa

LOCK_WAIT_S = 120.0


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
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as e:  # another process holds the write lock
                if "lock" not in str(e).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            yield con
        finally:
            con.close()

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
