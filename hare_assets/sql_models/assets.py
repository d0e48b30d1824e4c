"""Every dbt_like_sql/*.sql model becomes a warehouse asset.

`{{ ref('name') }}` names a warehouse table; it becomes a dependency on the asset that writes the
table and is replaced by the quoted table name. The SQL is validated with sqlglot at load time (a
broken model fails with its file and the parser's message), `code_version` is the file's hash, and
materializing runs `CREATE OR REPLACE TABLE <model> AS <select>` in the warehouse.
"""


import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import sqlglot

from hare_assets.core.meta import table_metadata
from hare_assets.core.resources import HareResource
from hare_assets.core.warehouse import quote_ident

REF = re.compile(r"\{\{\s*ref\(\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]\s*\)\s*\}\}")
SQL_DIR = Path(os.environ.get("HARE_SQL_DIR", Path(__file__).resolve().parents[2] / "dbt_like_sql"))
# Warehouse tables written by an asset of another name.
TABLE_OWNERS = {
    "raw_quarantine": "raw_documents",
    "d1_rejections": "d1_documents",
    "d1_removals": "d1_documents",
    "d3_rejections": "d3_samples",
    "decontamination_rejections": "decontaminated_documents",
    "mix_report": "training_mix",
}


class SqlModelError(ValueError):
    pass


@dataclass(frozen=True)
class SqlModel:
    name: str
    path: Path
    refs: tuple[str, ...]
    sql: str  # refs resolved to table names

    @property
    def deps(self) -> list[str]:
        return sorted({TABLE_OWNERS.get(r, r) for r in self.refs} - {self.name})

    @property
    def version(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:12]


def parse_model(path: Path) -> SqlModel:
    text = path.read_text(encoding="utf-8")
    refs = tuple(dict.fromkeys(REF.findall(text)))
    sql = REF.sub(lambda m: quote_ident(m.group(1)), text).strip().rstrip(";")
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as e:
        raise SqlModelError(f"{path}: invalid SQL: {e}") from None
    if len(statements) != 1 or not isinstance(statements[0], sqlglot.exp.Query):
        raise SqlModelError(f"{path}: a model must be exactly one SELECT (or WITH ... SELECT) statement")
    return SqlModel(name=path.stem, path=path, refs=refs, sql=sql)


def load_models(sql_dir: Path = SQL_DIR) -> list[SqlModel]:
    return [parse_model(p) for p in sorted(Path(sql_dir).glob("*.sql"))]


def model_asset(model: SqlModel) -> dg.AssetsDefinition:
    @dg.asset(
        name=model.name,
        group_name="warehouse",
        deps=model.deps,
        code_version=model.version,
        pool="duckdb",
        kinds={"duckdb", "sql"},
        description=f"SQL model `{model.path.name}` materialized as a warehouse table.\n\n```sql\n{model.sql}\n```",
    )
    def _asset(context: dg.AssetExecutionContext, hare: HareResource) -> dg.MaterializeResult:
        warehouse = hare.warehouse()
        warehouse.execute_script(model.name, model.sql)
        with warehouse.connect(read_only=True) as con:
            table = con.execute(f"SELECT * FROM {quote_ident(model.name)}").fetch_arrow_table()
        return dg.MaterializeResult(metadata={**table_metadata(table, n=20), "sql_file": str(model.path)})

    return _asset


def sql_model_assets(sql_dir: Path = SQL_DIR) -> list[dg.AssetsDefinition]:
    return [model_asset(m) for m in load_models(sql_dir)]
