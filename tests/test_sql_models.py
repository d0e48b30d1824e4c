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


BENCHMARKS = {"mmlu": (14042, 5), "arc_challenge": (1172, 25), "truthfulqa": (817, 0),
              "winogrande": (1267, 5), "hellaswag": (10042, 10), "gsm8k": (1319, 5)}


def score_rows(run: str, value: float, n_items: int | None, stderr: float | None = 0.01, arm: bool = False,
               parts: str = "d1", shots: dict | None = None) -> list[tuple]:
    """benchmark_scores rows: every benchmark at `value`; n_items None means the whole split."""
    return [(run, b, value, stderr, full if n_items is None else n_items, full,
             (n_items or full) < full, (shots or {}).get(b, v1), v1, arm, parts)
            for b, (full, v1) in BENCHMARKS.items()]


def warehouse_with_scores(rows: list[tuple]):
    import duckdb

    con = duckdb.connect()
    con.execute("create table benchmark_scores (run varchar, benchmark varchar, value double, stderr double, "
                "n_items int, n_items_full int, subset bool, few_shot int, v1_few_shot int, "
                "ablation_arm bool, mix_parts varchar)")
    con.executemany("insert into benchmark_scores values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    models = {m.name: m for m in load_models()}
    for name in ("leaderboard", "leaderboard_tasks", "ablation_scores"):  # refs before the models using them
        con.execute(f'create table "{name}" as {models[name].sql}')
    return con


def test_leaderboard_never_ranks_a_subset_among_full_scores():
    """A run scored on 4 items a task (above every paper row) and one on other shots stay unranked,
    with the reason; a run on the full splits under the v1 shots is ranked among the paper's rows."""
    con = warehouse_with_scores(score_rows("tiny", 0.9, 4, stderr=0.2)
                                + score_rows("other_shots", 0.8, None, shots={"arc_challenge": 7})
                                + score_rows("full", 0.4, None, stderr=0.012))
    board = {m: (o, r, a, se, n, sub, note) for o, m, r, a, se, n, sub, note in con.execute(
        "select origin, model, rank, average, average_stderr, items_scored, subset, note from leaderboard").fetchall()}
    assert board["run:tiny"] == ("this platform", None, 90.0, round(100 * (6 * 0.2 ** 2) ** 0.5 / 6, 2), 24, True,
                                 "subset: 24 of 28659 items; not ranked")
    assert board["run:other_shots"][1:2] == (None,) and "shots differ" in board["run:other_shots"][6]
    # 40.0: just below HARE 1.1B's 40.17 and Qwen1.5 1.8B chat's 43.99, tied with HARE 1.1B chat (Table 7)
    assert board["run:full"][:2] == ("this platform", 6) and board["HARE 1.1B chat"][:2] == ("paper Table 7", 6)
    assert board["HARE 1.1B"][:2] == ("paper Table 1", 5) and board["Phi1.5 1.3B"][1] == 1
    assert board["HARE 1.1B"][4:6] == (28659, False)
    ranked = [r for (r,) in con.execute("select rank from leaderboard").fetchall()]
    assert ranked == sorted(ranked, key=lambda r: (r is None, r))  # unranked rows come last

    tasks = con.execute("select model, rank, score, stderr, n_items, n_items_full, subset, few_shot, v1_few_shot "
                        "from leaderboard_tasks where benchmark = 'arc_challenge'").fetchall()
    by_model = {t[0]: t[1:] for t in tasks}
    assert by_model["run:tiny"] == (None, 90.0, 20.0, 4, 1172, True, 25, 25)
    assert by_model["run:other_shots"][0] is None and by_model["run:other_shots"][6] == 7
    # ARC: Phi1.5 52.9, Stablelm2 43.34, run:full 40.0, H2o 39.42, Qwen1.5 chat 38.74, Cosmo 38.57, HARE 38.4
    assert by_model["HARE 1.1B"] == (7, 38.4, None, 1172, 1172, False, 25, 25)
    assert by_model["run:full"][0] == 3 and len(tasks) == 10 + 3 + 3


def test_ablation_gain_within_its_error_is_marked():
    rows = (score_rows("abl_d1", 0.30, None, stderr=0.01, arm=True, parts="d1")
            + score_rows("abl_d1_d2", 0.31, None, stderr=0.01, arm=True, parts="d1+d2")
            + score_rows("abl_d1_d2_d3", 0.40, None, stderr=0.01, arm=True, parts="d1+d2+d3"))
    con = warehouse_with_scores(rows)
    got = {r: (g, se, w) for r, g, se, w in con.execute(
        "select run, gain_over_d1, gain_stderr, gain_within_error from ablation_scores where benchmark = 'mmlu'"
    ).fetchall()}
    assert got["abl_d1"] == (0.0, None, None)  # the baseline against itself
    assert got["abl_d1_d2"] == (1.0, 1.41, True)  # 1 point, 95% interval +-2.77
    assert got["abl_d1_d2_d3"] == (10.0, 1.41, False)
    average = con.execute("select stderr, n_items from ablation_scores where run = 'abl_d1' and benchmark = 'average'"
                          ).fetchone()
    assert average == (round(100 * (6 * 0.01 ** 2) ** 0.5 / 6, 2), 28659)
