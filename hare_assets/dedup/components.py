"""Connected components of the near-duplicate graph (pure code, no Dagster).

The graph's edges are Parquet files of (head, idx) pairs, head < idx, on shared storage. While they fit
one task (`compute.component_edges_per_task`), a union-find in this process labels every node with its
component's smallest idx. Past that, rounds of large-star / small-star (Kiveris et al., "Connected
Components in MapReduce and Beyond", SoCC 2014) run over node partitions (idx mod `parts`), one task per
partition and phase, each in DuckDB under the memory limit, reading and writing Parquet, so no task
holds more than its partition. Both give every node the smallest idx of its component, so the plan is
the same whichever runs.

A phase's output is keyed for the next phase's input: large-star reads each edge from both ends
(`u` = either endpoint), small-star from its larger end. Rounds stop when neither phase changes an
edge: then every component is a star around its smallest node.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from hare_assets.core.compute import map_batches
from hare_assets.core.settings import Compute
from hare_assets.core.warehouse import duckdb_limits, quote_literal


def connected_components(pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Union-find over candidate pairs: every id that appears maps to its component's smallest id."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs:
        a, b = int(a), int(b)
        if a not in parent:
            parent[a] = a
        if b not in parent:
            parent[b] = b
        ra, rb = find(a), find(b)
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
    return {x: find(x) for x in parent}


def _connect(memory_limit: str, temp_directory: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    duckdb_limits(con, memory_limit, temp_directory)
    return con


def _write_keyed(con: duckdb.DuckDBPyConnection, edges_sql: str, both_ends: bool, parts: int, dest: Path) -> None:
    """Writes the canonical edges (a < b) of `edges_sql` as rows (u, v) partitioned by u mod `parts`:
    from both ends for a large-star, from the larger end (u = b) for a small-star."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    rows = "SELECT b AS u, a AS v FROM e" + (" UNION ALL SELECT a, b FROM e" if both_ends else "")
    con.execute(f"""
        COPY (WITH e AS ({edges_sql}) SELECT u, v, u % {int(parts)} AS part FROM ({rows}))
        TO {quote_literal(str(dest))} (FORMAT parquet, PARTITION_BY (part), OVERWRITE)""")


def scatter_edges(edge_file: str, out: str, parts: int, memory_limit: str, temp_directory: str) -> int:
    """The first large-star input: one band task's edge file keyed from both ends. Returns its edges."""
    with _connect(memory_limit, temp_directory) as con:
        sql = f"SELECT head AS a, idx AS b FROM read_parquet({quote_literal(edge_file)})"
        _write_keyed(con, sql, True, parts, Path(out))
        return con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]


def star_phase(part: int, phase: str, src: str, dest: str, parts: int, memory_limit: str,
               temp_directory: str) -> int:
    """One partition of a large-star or small-star phase over the rows (u, v) of `src` keyed to it;
    writes the new edges keyed for the other phase under `dest/<part>/`. Returns the edges it changed."""
    files = sorted(Path(src).glob(f"*/part={part}/*.parquet"))
    if not files:
        return 0
    with _connect(memory_limit, temp_directory) as con:
        con.execute(f"CREATE TEMP TABLE e AS SELECT DISTINCT u, v FROM read_parquet({[str(f) for f in files]!r})")
        if phase == "large":
            # Each u links its larger neighbours to m(u), the smallest of u and its neighbours.
            con.execute("CREATE TEMP TABLE m AS SELECT u, least(u, min(v)) AS m FROM e GROUP BY u")
            out = "SELECT m.m AS a, e.v AS b FROM e JOIN m USING (u) WHERE e.v > e.u"
            changed = "SELECT count(*) FROM e JOIN m USING (u) WHERE e.v > e.u AND m.m < e.u"
        else:
            # Each u links itself and its smaller neighbours (all of e's v here) to the smallest of them.
            con.execute("CREATE TEMP TABLE m AS SELECT u, min(v) AS m, count(*) AS k FROM e GROUP BY u")
            out = ("SELECT m.m AS a, e.v AS b FROM e JOIN m USING (u) WHERE e.v <> m.m "
                   "UNION ALL SELECT m AS a, u AS b FROM m")
            changed = "SELECT coalesce(sum(k), 0) FROM m WHERE k > 1"
        _write_keyed(con, out, phase == "small", parts, Path(dest) / str(part))
        return int(con.execute(changed).fetchone()[0])


def star_components(compute: Compute, edge_files: list[str], parts: int, scratch: Path, memory_limit: str,
                    temp_directory: str) -> tuple[str, int]:
    """Large-star / small-star rounds over `parts` node partitions, one task per partition and phase.
    Returns (a Parquet glob of the converged rows (u, v): every component a star around its smallest
    node, from both ends; the rounds run). `scratch` is this step's own folder: it is emptied first."""
    limits = {"parts": parts, "memory_limit": memory_limit, "temp_directory": temp_directory}
    shutil.rmtree(scratch, ignore_errors=True)  # a retried run starts from its own edges
    src = scratch / "round-0"
    for i, f in enumerate(edge_files):  # one cheap pass per band file
        scatter_edges(f, str(src / str(i)), **limits)
    rounds = 0
    while True:
        rounds += 1
        changed = 0
        for phase in ("large", "small"):
            dest = scratch / phase
            changed += sum(map_batches(compute, star_phase, range(parts),
                                       shared={"phase": phase, "src": str(src), "dest": str(dest), **limits}))
            # The output becomes the next phase's input, so this phase can write `dest` afresh next round.
            src = scratch / f"{phase}-in"
            shutil.rmtree(src, ignore_errors=True)
            dest.rename(src)
        if changed == 0:
            return str(src / "*" / "part=*" / "*.parquet"), rounds


def components_table(con: duckdb.DuckDBPyConnection, compute: Compute, edge_files: list[str], edges: int,
                     scratch: Path, memory_limit: str, temp_directory: str) -> None:
    """Creates temp table `components(idx, root)` (root: the component's smallest idx) over the edge
    files: a union-find here while `edges` fit one task, else star rounds in `scratch/star`."""
    limit = compute.component_edges_per_task
    if edges <= limit:
        sql = " UNION ALL ".join(f"SELECT head, idx FROM read_parquet({quote_literal(f)})" for f in edge_files)
        pairs = con.execute(sql).fetchnumpy() if edge_files else {"head": np.array([]), "idx": np.array([])}
        roots = connected_components(zip(pairs["head"].tolist(), pairs["idx"].tolist()))
        con.register("_roots", pa.table({"idx": pa.array(list(roots), pa.int64()),
                                         "root": pa.array(list(roots.values()), pa.int64())}))
        con.execute("CREATE TEMP TABLE components AS SELECT * FROM _roots")
        con.unregister("_roots")
        return
    parts = max(2, -(-2 * edges // limit))  # each edge is stored from both ends
    glob, _ = star_components(compute, edge_files, parts, scratch / "star", memory_limit, temp_directory)
    con.execute(f"""
        CREATE TEMP TABLE components AS
        SELECT DISTINCT v AS idx, u AS root FROM read_parquet({quote_literal(glob)}) WHERE u < v
        UNION SELECT DISTINCT u, u FROM read_parquet({quote_literal(glob)}) WHERE u < v""")
