"""Every column of the main tables has a description in its column schema (the UI's column tables)."""

import pyarrow as pa
import pytest

from hare_assets.cleaning.signals import BAND_SCHEMA, SIGNALS_SCHEMA
from hare_assets.core.meta import table_metadata
from hare_assets.core.overlap.index import NGRAM_SCHEMA
from hare_assets.core.schemas import CLEANED_SCHEMA, DOCUMENT_SCHEMA, REJECTION_SCHEMA
from hare_assets.decontamination.assets import MIX_SCHEMA, REMOVED_SCHEMA
from hare_assets.mixture.sampling import PLAN_SCHEMA, REPORT_SCHEMA
from hare_assets.sources.assets import QUARANTINE_SCHEMA
from hare_assets.synthesis.assets import SYNTH_SCHEMA

SCHEMAS = {"documents": DOCUMENT_SCHEMA, "cleaned": CLEANED_SCHEMA, "rejections": REJECTION_SCHEMA,
           "d1_signals": SIGNALS_SCHEMA, "minhash_signatures": BAND_SCHEMA, "raw_quarantine": QUARANTINE_SCHEMA,
           "synthesized": SYNTH_SCHEMA, "decontaminated": MIX_SCHEMA, "decontamination_rejections": REMOVED_SCHEMA,
           "benchmark_ngrams": NGRAM_SCHEMA, "training_mix": PLAN_SCHEMA, "mix_report": REPORT_SCHEMA}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_column_described(name):
    schema = table_metadata(SCHEMAS[name].empty_table())["dagster/column_schema"]
    missing = [c.name for c in schema.columns if not c.description]
    assert not missing, f"{name}: columns without a description: {missing}"


def test_scores_and_override():
    scores = pa.table({"run": ["a"], "benchmark": ["mmlu"], "metric": ["acc"], "value": [0.3], "stderr": [0.01]})
    schema = table_metadata(scores)["dagster/column_schema"]
    assert all(c.description for c in schema.columns)
    own = table_metadata(scores, descriptions={"value": "mine"})["dagster/column_schema"]
    assert next(c for c in own.columns if c.name == "value").description == "mine"
