import pytest

from hare_assets.sql_models.models import SqlModelError, load_models, parse_model


def test_refs_become_deps_and_quoted_tables(tmp_path):
    (tmp_path / "m.sql").write_text(
        "select source, count(*) from {{ ref('raw_quarantine') }} q join {{ref(\"d1_documents\")}} d using (source) group by 1;")
    m = parse_model(tmp_path / "m.sql")
    assert m.refs == ("raw_quarantine", "d1_documents")
    assert m.deps == ["d1_documents", "raw_documents"]  # raw_quarantine is written by raw_documents
    assert '"raw_quarantine"' in m.sql and "{{" not in m.sql and not m.sql.endswith(";")


def test_code_version_is_the_file_hash(tmp_path):
    p = tmp_path / "m.sql"
    p.write_text("select 1 as x")
    v1 = parse_model(p).version
    p.write_text("select 2 as x")
    assert parse_model(p).version != v1


@pytest.mark.parametrize("sql, message", [
    ("select from where (", "invalid SQL"),
    ("create table t as select 1", "exactly one SELECT"),
    ("select 1; select 2", "exactly one SELECT"),
])
def test_invalid_models_name_the_file(tmp_path, sql, message):
    (tmp_path / "bad.sql").write_text(sql)
    with pytest.raises(SqlModelError, match=message) as e:
        parse_model(tmp_path / "bad.sql")
    assert "bad.sql" in str(e.value)


def test_project_models_parse():
    names = {m.name for m in load_models()}
    assert {"source_stats", "token_budget"} <= names
