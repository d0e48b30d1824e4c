"""Every dbt_like_sql/*.sql model becomes a warehouse asset: materializing runs
`CREATE OR REPLACE TABLE <model> AS <select>` in the warehouse. Its code version covers the SQL file
and the code that runs it, so editing the file marks the table stale."""

import dagster as dg

from hare_assets.core.asset import asset
from hare_assets.core.meta import table_metadata
from hare_assets.core.resources import HareResource
from hare_assets.core.settings import Settings
from hare_assets.core.warehouse import quote_ident
from hare_assets.sql_models.models import SqlModel, load_models


def model_asset(model: SqlModel) -> dg.AssetsDefinition:
    @asset(
        name=model.name,
        group_name="warehouse",
        deps=model.deps,
        config=[model.version],
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


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return [model_asset(m) for m in load_models()]
