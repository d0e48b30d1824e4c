"""The dbt_like_sql/*.sql models (pure code): one SELECT each, `{{ ref('name') }}` names a warehouse table.

A ref becomes a dependency on the asset that writes the table and is replaced by the quoted table
name. The SQL is validated with sqlglot at load time: a broken model fails with its file and the
parser's message.
"""


import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot

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
