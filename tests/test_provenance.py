import pytest

from hare_assets.core.provenance import (
    license_rows,
    license_shares,
    manifest_sources,
    rows_from_manifest,
    source_provenance,
)
from hare_assets.core.settings import load_settings


def composition():
    return {"tokens": 100, "parts": {}, "sources": {
        "d1/RedPajamaC4": {"documents": 3, "tokens": 50, "share": 0.5},
        "d1/AMPS": {"documents": 1, "tokens": 10, "share": 0.1},
        "d2_synthetic/d2_synthetic": {"documents": 2, "tokens": 25, "share": 0.25},
        "d3_open/dolly": {"documents": 4, "tokens": 15, "share": 0.15}}}


def test_license_rows_carry_each_sources_license_and_shares_sum_to_one(hare_home):
    rows = license_rows(composition(), source_provenance(load_settings().sources))
    by = {r["source"]: r for r in rows}
    assert by["RedPajamaC4"]["license"] == "odc-by" and by["AMPS"]["license"] == "mit"
    assert by["dolly"]["license"] == "cc-by-sa-3.0" and by["d2_synthetic"]["license"] == "other"
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert license_shares(rows) == pytest.approx({"odc-by": 0.5, "other": 0.25, "cc-by-sa-3.0": 0.15, "mit": 0.1})
    back = rows_from_manifest({"sources": manifest_sources(rows)})
    assert {r["source"]: (r["license"], r["share"]) for r in back} == {
        r["source"]: (r["license"], r["share"]) for r in rows}


def test_unknown_source_gets_unknown_license():
    rows = license_rows({"sources": {"d1/x": {"documents": 1, "tokens": 0}}}, {})
    assert rows[0]["license"] == "unknown" and rows[0]["share"] == 0.0
