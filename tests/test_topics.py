from collections import Counter

import dagster as dg
import numpy as np
import pyarrow as pa
import pytest
import yaml
from openai_server import OpenAIServer

from hare_assets.core.embeddings import embed_texts
from hare_assets.core.generation.backends import Generation, SamplingParams
from hare_assets.core.generation.cache import (
    Request,
    RequestCache,
    generate_cached,
    text_sha256,
)
from hare_assets.core.generation.openai_backend import OpenAICompatibleBackend
from hare_assets.core.lake import asset_dir, read_table, write_table
from hare_assets.core.resources import HareResource
from hare_assets.core.settings import PACKAGED_CONFIG
from hare_assets.topics.clustering import (
    cluster_texts,
    ctfidf_labels,
    excluded_clusters,
    parse_topic_label,
    representatives,
    sample_seeds,
    seeds_per_category,
    topic_label_prompt,
)
from hare_assets.topics.prompts import TOPIC_LABEL

TOPICS = {
    "astronomy": ["The telescope observed a distant galaxy and its bright stars.",
                  "Astronomers measured the orbit of the planet around its star.",
                  "A comet passed close to the sun, and its tail glowed in the night sky.",
                  "The nebula collapsed into new stars over millions of years.",
                  "Through the telescope the moons of Jupiter looked like tiny bright stars.",
                  "A supernova in a nearby galaxy outshone every other star for weeks."],
    "cooking": ["Whisk the eggs with sugar, then fold in the flour for a light cake batter.",
                "Simmer the tomato sauce with garlic and basil for twenty minutes.",
                "Knead the bread dough until smooth and let it rise in a warm kitchen.",
                "Roast the vegetables with olive oil and salt until golden.",
                "Season the soup with pepper and simmer it gently before serving.",
                "Bake the bread in a hot oven until the crust is brown and crisp."],
    "law": ["The court held that the contract was void because the defendant lacked capacity.",
            "The appellate judge reversed the trial court's ruling on the statute of limitations.",
            "Counsel for the plaintiff argued that the evidence was inadmissible hearsay.",
            "The jury found the defendant liable for breach of the lease agreement.",
            "The court dismissed the lawsuit because the plaintiff filed after the deadline.",
            "The judge instructed the jury on the elements of breach of contract."],
}
NAMES = {"astronomy": "Astronomy and stars", "cooking": "Cooking and baking", "law": "Contract law and courts"}





@pytest.fixture(scope="module")
def planted():
    texts = [t for ts in TOPICS.values() for t in ts]
    return texts, embed_texts(texts, "all-MiniLM-L6-v2"), np.repeat(np.arange(3), 6)


def test_minilm_embeddings_are_offline_and_normalized(planted):
    _, v, _ = planted
    assert v.shape == (18, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    # same-topic sentences are closer than cross-topic ones
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 6] and sims[12, 13] > sims[12, 0]


@pytest.mark.parametrize("fit_sample", [18, 9])
def test_clusters_recover_planted_topics_and_labels(planted, fit_sample):
    """k-means on all documents, or on half of them with the rest assigned by nearest centroid."""
    texts, vectors, truth = planted
    result = cluster_texts(texts, vectors, n_clusters=3, seed=0, fit_sample=fit_sample)
    assert result.fitted_on == fit_sample and result.centroids.shape == (3, 384)
    # each cluster is one planted topic (up to renaming)
    for c in range(3):
        assert len(set(truth[result.assignments == c])) == 1
    assert sorted(result.sizes) == [6, 6, 6] and result.coords.shape == (18, 2)
    by_topic = {name: result.labels[result.assignments[i * 6]] for i, name in enumerate(TOPICS)}
    assert {"court", "defendant", "judge", "jury", "contract"} & set(by_topic["law"].split("_"))
    assert {"stars", "star", "telescope", "galaxy"} & set(by_topic["astronomy"].split("_"))
    assert {"bread", "simmer", "oven", "sauce"} & set(by_topic["cooking"].split("_"))


class _Labeller:
    """Stands in for an LLM: names the topic whose words the prompt's terms and extracts show."""

    def generate(self, prompts, params):
        out = []
        for p in prompts:
            votes = Counter({name: sum(p.count(w) for w in ws) for name, ws in
                             {"astronomy": ("star", "telescope", "galaxy"), "cooking": ("bread", "simmer", "oven"),
                              "law": ("court", "jury", "judge")}.items()})
            out.append(Generation(f"Topic: {NAMES[votes.most_common(1)[0][0]]}", len(p.split()), 5))
        return out


def test_llm_cluster_labels_through_an_openai_server_and_the_cache(planted, tmp_path):
    texts, vectors, truth = planted
    result = cluster_texts(texts, vectors, n_clusters=3, seed=0)
    reps = representatives(vectors, result, n=3)
    assert all(len(r) == 3 and len(set(result.assignments[r])) == 1 for r in reps)
    prompts = [topic_label_prompt(t, [texts[i] for i in r]) for t, r in zip(result.labels, reps)]
    assert all(t.replace("_", ", ") in p and texts[r[0]] in p for t, r, p in zip(result.labels, reps, prompts))
    requests = [Request(TOPIC_LABEL.sha256, text_sha256(p), p) for p in prompts]
    with OpenAIServer(answer=_Labeller()) as srv:
        backend = OpenAICompatibleBackend(srv.url, "labeller", max_retries=0)
        cache = RequestCache(tmp_path / "cache.duckdb")
        gens, stats = generate_cached(backend, cache, requests, SamplingParams(max_new_tokens=16))
        _, again = generate_cached(backend, cache, requests, SamplingParams(max_new_tokens=16))
        assert len(srv.seen) == 3 and (again.sent, again.cache_hits) == (0, 3)
    labels = [parse_topic_label(g.text) for g in gens]
    assert {labels[result.assignments[i * 6]] for i in range(3)} == set(NAMES.values())
    for name, i in zip(TOPICS, range(3)):
        assert labels[result.assignments[i * 6]] == NAMES[name]


def test_parse_topic_label():
    assert parse_topic_label("Topic: Contract law") == "Contract law"
    assert parse_topic_label("Sure!\n**Topic:** Night sky and stars.") == "Night sky and stars"
    assert parse_topic_label("Baking bread") == "Baking bread"
    for bad in ("", "Topic: <the subject>", "Topic:", " ".join(["word"] * 12)):
        assert parse_topic_label(bad) is None, bad


def test_excluded_clusters_by_name_or_size():
    names = [("court_contract", "Law"), ("stars_sun", "Astronomy"), ("cake_bread", "cake_bread")]
    assert excluded_clusters(names, [5, 5, 5], set(), 1) == set()
    assert excluded_clusters(names, [5, 5, 5], {"Astronomy"}, 1) == {1}
    assert excluded_clusters(names, [5, 5, 5], {"court_contract"}, 1) == {0}
    assert excluded_clusters(names, [5, 2, 9], {"cake_bread"}, 3) == {1, 2}


def test_ctfidf_prefers_distinctive_terms():
    texts = ["apple banana common", "apple apple common", "rocket engine common", "rocket fuel common"]
    labels = ctfidf_labels(texts, np.array([0, 0, 1, 1]), 2, terms=1)
    assert labels == ["apple", "rocket"]


def test_seeds_per_category_follow_the_token_shares():
    shares = {"Web": 4.5, "Wiki": 8.16, "News": 4.5, "Academic": 4.62, "Books": 4.08, "Law": 2.16, "Code": 0.06,
              "Math": 0.12}
    wanted = seeds_per_category(28_200, shares, tokens_per_seed=100)
    assert wanted == {"Web": 45, "Wiki": 82, "News": 45, "Academic": 47, "Books": 41, "Law": 22, "Code": 1, "Math": 2}
    assert seeds_per_category(1000, {"A": 1.0, "B": 0.0}, 10) == {"A": 100, "B": 0}


def test_seed_sampling_is_balanced_across_topics_and_seeded():
    # category W spreads over topics 0, 1, 2 (10, 3 and 10 documents); category L lives in topic 2 only.
    assignments = np.array([0] * 10 + [1] * 3 + [2] * 10 + [2] * 4)
    categories = ["W"] * 23 + ["L"] * 4
    picked = sample_seeds(categories, assignments, {0, 1, 2}, {"W": 7, "L": 2}, seed=3)
    per = Counter((categories[i], int(assignments[i])) for i in picked)
    assert per[("L", 2)] == 2 and sum(n for (c, _), n in per.items() if c == "W") == 7
    assert max(per[("W", t)] for t in range(3)) - min(per[("W", t)] for t in range(3)) <= 1
    assert picked == sample_seeds(categories, assignments, {0, 1, 2}, {"W": 7, "L": 2}, seed=3)
    assert picked != sample_seeds(categories, assignments, {0, 1, 2}, {"W": 7, "L": 2}, seed=4)
    # A topic that runs out is skipped; an excluded topic is never used; the target may not be reachable.
    more = sample_seeds(categories, assignments, {0, 1, 2}, {"W": 15, "L": 0}, seed=3)
    per = Counter(int(assignments[i]) for i in more)
    assert per == {1: 3, 0: 6, 2: 6}
    assert {int(assignments[i]) for i in sample_seeds(categories, assignments, {0, 2}, {"W": 30}, 3)} == {0, 2}
    assert len(sample_seeds(categories, assignments, {1}, {"W": 30}, 3)) == 3


def test_topic_assets_with_llm_labels_exclusion_and_token_targets(planted, tmp_path, monkeypatch):
    """topic_clusters + synthesis_seeds materialized on the planted fixture: LLM labels through the
    configured openai backend (a localhost server), a cluster excluded by its LLM name, seeds toward
    the per-category token targets, the map PNG in the metadata."""
    texts, _, _ = planted
    home = tmp_path / "hare"
    sources = ["RedPajamaWiki", "RedPajamaC4", "PileofLaw"]
    docs = [{"id": f"doc{i}", "source": sources[i % 3], "category": "x", "part": "d1", "text": t, "meta": "{}"}
            for i, t in enumerate(texts)]
    write_table(asset_dir(home, "d1_documents"), pa.Table.from_pylist(docs))
    with OpenAIServer(answer=_Labeller()) as srv:
        cfg = yaml.safe_load(PACKAGED_CONFIG.read_text())
        cfg["sample_corpus"] = {"enabled": False}
        cfg["topics"].update(n_clusters=3, exclude_clusters=["Cooking and baking"], seed=0, llm_labels=True)
        cfg["synthesis"]["backend"] = {"kind": "openai", "model": "labeller", "base_url": srv.url,
                                       "max_new_tokens": 10, "max_retries": 0}
        # Wiki wants 4 seeds, Web 1, Law 2 (ceil of 70 tokens x share / 10 per seed); the rest none.
        cfg["synthesis"].update(d2_tokens=70, d2_category_shares={"Wiki": 4, "Web": 1, "Law": 2, "News": 0,
                                                                  "Academic": 0, "Books": 0, "Code": 0, "Math": 0})
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
        monkeypatch.setenv("HARE_CONFIG", str(tmp_path / "config.yaml"))
        monkeypatch.setenv("HARE_HOME", str(home))
        from hare_assets.core.settings import load_settings
        from hare_assets.topics.assets import build_assets

        with dg.instance_for_test() as instance:
            result = dg.materialize(build_assets(load_settings()), instance=instance,
                                    resources={"hare": HareResource(home=str(home))})
            assert result.success
            meta = {k: v.value for k, v in
                    instance.get_latest_materialization_event(dg.AssetKey("topic_clusters")).asset_materialization
                    .metadata.items()}
        assert len(srv.seen) == 3
    assert sorted(meta["cluster_labels"].values()) == sorted(NAMES.values())
    assert sorted(meta["cluster_sizes"].values()) == [6, 6, 6] and meta["excluded_clusters"] == 1
    assert meta["map"].startswith("![topic map](data:image/png;base64,iVBOR")  # PNG bytes, shown in the UI
    assert (meta["requests_sent"], meta["label_model"]) == (3, "openai:labeller")
    clusters = read_table(asset_dir(home, "topic_clusters")).to_pylist()
    assert {r["cluster_label"] for r in clusters if r["excluded"]} == {"Cooking and baking"}
    assert all(r["cluster_terms"] != r["cluster_label"] for r in clusters)
    seeds = read_table(asset_dir(home, "synthesis_seeds")).to_pylist()
    assert Counter(s["category"] for s in seeds) == {"Wiki": 4, "Web": 1, "Law": 2}
    assert "Cooking and baking" not in {s["topic"] for s in seeds}
    wiki_topics = Counter(s["topic"] for s in seeds if s["category"] == "Wiki")
    assert sorted(wiki_topics.values()) == [2, 2]  # balanced over the two kept topics
    assert all(s["seed_text"] in texts for s in seeds)
