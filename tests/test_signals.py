"""Scores once, thresholds after: signal tables, the filter over them, the pool path, and which config
keys each half depends on."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from test_cleaning_rules import CODE, ENGLISH, FRENCH, MATH, clean, reason

from hare_assets.cleaning import signals as sg
from hare_assets.cleaning.normalize import normalize
from hare_assets.cleaning.rules import failing_rule, rule_set_for, score_batch
from hare_assets.core.minhash import band_keys, lsh_params, signatures, text_hashes
from hare_assets.core.schemas import CLEANED_SCHEMA, REJECTION_SCHEMA
from hare_assets.core.settings import Cleaning, Dedup, load_settings

CFG, DEDUP = Cleaning(), Dedup()
TEXTS = [ENGLISH, FRENCH, CODE, MATH, "tiny", ENGLISH.replace("Tuesday", "Tuesday (mail bob@example.com)"), "",
         None, "x" * 50]
CATS = ["C4", "Wiki", "Code", "Math", "C4", "News", "C4", "C4", "C4"]


def docs(texts=TEXTS, cats=CATS) -> pa.Table:
    n = len(texts)
    return pa.table({"id": [f"d{i}" for i in range(n)], "source": ["s"] * n, "category": cats, "part": ["d1"] * n,
                     "text": pa.array(texts, pa.string()), "meta": ["{}"] * n})


def test_oversized_is_rejected_unscored_and_only_over_the_cap():
    cfg = CFG.model_copy(update={"max_scored_chars": 1000})
    big = (ENGLISH + " ") * 10
    doc, why = clean(big, "C4", cfg)
    assert why == "oversized" and doc.text == big and doc.edits == {}
    assert doc.signals["scored"] is False and doc.signals["chars"] == len(big) and doc.signals["words"] is None
    assert reason(big[:999], "C4", cfg) != "oversized"
    assert reason(big, "C4", CFG) is None  # the default cap is far above it


def test_normalize_repairs_surrogates():
    assert normalize("a\ud800b")[0] == "a\ufffdb"
    assert normalize("smile \ud83d\ude00 ok")[0] == "smile \U0001F600 ok"  # a pair split in two code points
    doc, _ = clean("lone \udfff " + ENGLISH, "C4", CFG)
    assert "\ufffd" in doc.text and doc.text.encode("utf-8")


def test_scores_do_not_depend_on_thresholds():
    strict = CFG.model_copy(update={"min_words": 500, "max_words": 30, "language_threshold": 0.99,
                                    "max_non_alpha_fraction": 0.0, "max_duplicate_line_fraction": 0.0,
                                    "require_terminal_punctuation": False, "language": "fr"})
    assert score_batch(TEXTS, CATS, CFG) == score_batch(TEXTS, CATS, strict)


def test_score_table_rows_and_band_keys():
    sig, bands, stats = sg.score_table(docs(), CFG, DEDUP)
    assert sig.schema == sg.SIGNALS_SCHEMA and bands.schema == sg.BAND_SCHEMA
    assert sig.num_rows == len(TEXTS) and stats["rows"] == len(TEXTS) and stats["edits"] == {"pii_email": 1}
    edited = sig.column("text").to_pylist()
    assert edited[5] != TEXTS[5] and "<EMAIL>" in edited[5] and edited[7] == ""
    assert json.loads(sig.column("edits")[5].as_py()) == {"pii_email": 1}
    assert sig.column("text_hash").to_pylist() == text_hashes(edited).tolist()
    b, r = lsh_params(DEDUP.jaccard_threshold, DEDUP.num_perm)
    keys = band_keys(signatures(edited, DEDUP.shingle_words, DEDUP.num_perm, DEDUP.seed), b, r)
    assert bands.num_rows == len(TEXTS) * b
    # Band-major: all documents' band 0 keys, then band 1's ...
    assert bands.column("key").to_pylist() == keys.T.reshape(-1).tolist()
    assert bands.column("band").to_pylist() == [i for i in range(b) for _ in TEXTS]
    assert bands.column("id").to_pylist() == [f"d{i}" for i in range(len(TEXTS))] * b
    assert sig.column("language").to_pylist()[2] is None and sig.column("language").to_pylist()[0] == "en"


def test_filter_equals_the_rules_on_fresh_scores_and_keeps_weights():
    sig, _, _ = sg.score_table(docs(), CFG, DEDUP)
    for cfg in (CFG, CFG.model_copy(update={"min_words": 40, "language_threshold": 0.99})):
        kept, rejected, reasons = sg.filter_signals(sig, cfg, 7.5)
        scored = score_batch(TEXTS, CATS, cfg)
        fresh = [failing_rule(s.signals, rule_set_for(c, cfg), cfg) for s, c in zip(scored, CATS)]
        assert kept.column("id").to_pylist() == [f"d{i}" for i, why in enumerate(fresh) if why is None]
        assert rejected.column("reason").to_pylist() == [why for why in fresh if why is not None]
        assert sum(reasons.values()) == rejected.num_rows and kept.num_rows + rejected.num_rows == len(TEXTS)
        assert set(kept.column("source_weight").to_pylist()) <= {7.5}
        assert kept.schema == CLEANED_SCHEMA and rejected.schema == REJECTION_SCHEMA
        assert set(rejected.column("stage").to_pylist()) == {"cleaning"}
        detail = json.loads(rejected.column("detail")[0].as_py())
        assert detail["scored"] is True and "words" in detail


def test_missing_signal_names_the_step_to_rerun():
    sig, _, _ = sg.score_table(docs([ENGLISH], ["Code"]), CFG, DEDUP)
    with pytest.raises(KeyError, match="d1_signals"):  # code has no language score: not scored as prose
        sg.filter_signals(sig, CFG.model_copy(update={"code_categories": ()}), 1.0)


def test_pool_gives_the_same_tables_in_order():
    batches = [docs().to_batches()[0].slice(i, 3) for i in range(0, len(TEXTS), 3)]
    serial = list(sg.score_batches(batches, CFG, DEDUP, workers=1))
    pooled = list(sg.score_batches(iter(batches), CFG, DEDUP, workers=2))
    assert len(pooled) == len(serial) == 3
    for (s1, b1, _), (s2, b2, _) in zip(serial, pooled):
        assert s1.equals(s2) and b1.equals(b2)


def test_scoring_workers():
    cfg = CFG.model_copy(update={"workers": 0, "parallel_min_rows": 100})
    assert sg.scoring_workers(cfg, 99) == 1
    assert sg.scoring_workers(cfg, 100) >= 1
    assert sg.scoring_workers(cfg.model_copy(update={"workers": 3}), 1000) == 3


def test_every_cleaning_key_is_classified_and_fingerprints_split(hare_home):
    scoring = set(sg.SCORING_KEYS["cleaning"])
    assert scoring | set(sg.FILTER_KEYS) | set(sg.EXECUTION_KEYS) == set(Cleaning.model_fields)
    assert set(sg.SCORING_KEYS["dedup"]) == set(Dedup.model_fields)
    settings = load_settings()
    for key, value in [("min_words", 5), ("language_threshold", 0.9), ("require_terminal_punctuation", False)]:
        changed = settings.model_copy(update={"cleaning": settings.cleaning.model_copy(update={key: value})})
        assert sg.scoring_fingerprint(changed) == sg.scoring_fingerprint(settings), key
        assert sg.filter_fingerprint(changed) != sg.filter_fingerprint(settings), key
    for section, key, value in [("cleaning", "max_scored_chars", 10), ("dedup", "jaccard_threshold", 0.8)]:
        part = getattr(settings, section).model_copy(update={key: value})
        assert sg.scoring_fingerprint(settings.model_copy(update={section: part})) != sg.scoring_fingerprint(settings)
    workers = settings.model_copy(update={"cleaning": settings.cleaning.model_copy(update={"workers": 7})})
    assert sg.scoring_fingerprint(workers) == sg.scoring_fingerprint(settings)
    assert sg.filter_fingerprint(workers) == sg.filter_fingerprint(settings)
