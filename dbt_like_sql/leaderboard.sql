-- Each run's scores (in %) beside the paper's Table 1 (Open LLM Leaderboard v1 protocol, lm-eval's
-- simple_evaluate: ARC acc_norm 25-shot, HellaSwag acc_norm 10-shot, TruthfulQA mc2 0-shot, MMLU 5-shot
-- mean over subjects, Winogrande acc 5-shot, GSM8K strict-match 5-shot). Average = mean of the six.
-- The chat models of Table 7 (Appendix C.1, same protocol) stand beside them, origin 'paper Table 7'.
-- A run is ranked among the paper's rows only when every score rests on the whole benchmark split
-- under the v1 shots; otherwise `rank` is empty and `note` says why (per-task items, standard errors
-- and shots: leaderboard_tasks).
WITH paper(model, average, mmlu, arc_challenge, truthfulqa, winogrande, hellaswag, gsm8k) AS (VALUES
    ('Phi1.5 1.3B', 47.69, 43.89, 52.9, 40.89, 72.22, 63.79, 12.43),
    ('Qwen1.5 1.8B', 46.55, 46.71, 37.88, 39.43, 60.3, 61.42, 33.59),
    ('Stablelm2 1.6B', 45.25, 38.95, 43.34, 36.78, 64.56, 70.45, 17.44),
    ('HARE 1.1B', 40.17, 35.74, 38.4, 42.08, 59.27, 57.46, 8.04),
    ('H2o-danube 1.8B', 39.12, 25.94, 39.42, 33.86, 64.48, 69.58, 1.44),
    ('OpenELM 1.1B', 38.47, 27.05, 36.69, 33.86, 63.22, 65.71, 1.21),
    ('Csg-wukong 1B', 37.78, 25.33, 37.71, 42.79, 56.67, 58.93, 5.23),
    ('Cosmo 1B', 36.59, 26.69, 38.57, 38.15, 55.49, 55.13, 5.53),
    ('TinyLlama 1.1B', 36.42, 26.04, 33.87, 37.32, 59.51, 60.31, 1.44),
    ('Gpt2xl 1.6B', 34.31, 26.55, 30.29, 38.53, 58.01, 51.39, 1.06)
), paper_chat(model, average, mmlu, arc_challenge, truthfulqa, winogrande, hellaswag, gsm8k) AS (VALUES
    ('Qwen1.5 1.8B chat', 43.99, 45.87, 38.74, 40.62, 59.67, 60.02, 19.03),
    ('HARE 1.1B chat', 40.0, 33.62, 37.46, 41.49, 58.88, 53.03, 15.54),
    ('TinyLlama 1.1B chat', 36.26, 26.22, 33.53, 36.79, 60.22, 59.38, 1.44)
), ours AS (
    SELECT 'run:' || run AS model,
           round(100 * avg(value), 2) AS average,
           round(100 * max(value) FILTER (WHERE benchmark = 'mmlu'), 2) AS mmlu,
           round(100 * max(value) FILTER (WHERE benchmark = 'arc_challenge'), 2) AS arc_challenge,
           round(100 * max(value) FILTER (WHERE benchmark = 'truthfulqa'), 2) AS truthfulqa,
           round(100 * max(value) FILTER (WHERE benchmark = 'winogrande'), 2) AS winogrande,
           round(100 * max(value) FILTER (WHERE benchmark = 'hellaswag'), 2) AS hellaswag,
           round(100 * max(value) FILTER (WHERE benchmark = 'gsm8k'), 2) AS gsm8k,
           -- the standard error of the mean of six independent scores; empty if one has none
           CASE WHEN count(stderr) = count(*) THEN round(100 * sqrt(sum(stderr * stderr)) / count(*), 2) END
               AS average_stderr,
           sum(n_items) AS items_scored,
           sum(n_items_full) AS items_full,
           bool_or(subset) AS subset,
           bool_or(few_shot <> v1_few_shot) AS other_shots
    FROM {{ ref('benchmark_scores') }}
    GROUP BY run
), protocol AS (
    SELECT sum(n_items_full) AS items_full
    FROM (SELECT DISTINCT benchmark, n_items_full FROM {{ ref('benchmark_scores') }})
), board AS (
    SELECT 'paper Table 1' AS origin, paper.*, CAST(NULL AS DOUBLE) AS average_stderr,
           protocol.items_full AS items_scored, protocol.items_full, false AS subset, false AS other_shots
    FROM paper, protocol
    UNION ALL
    SELECT 'paper Table 7' AS origin, paper_chat.*, CAST(NULL AS DOUBLE) AS average_stderr,
           protocol.items_full AS items_scored, protocol.items_full, false AS subset, false AS other_shots
    FROM paper_chat, protocol
    UNION ALL
    SELECT 'this platform' AS origin, * FROM ours
)
SELECT origin, model,
       CASE WHEN NOT (subset OR other_shots)
            THEN rank() OVER (PARTITION BY subset OR other_shots ORDER BY average DESC) END AS rank,
       average, average_stderr, mmlu, arc_challenge, truthfulqa, winogrande, hellaswag, gsm8k,
       items_scored, items_full, subset,
       CASE WHEN subset THEN 'subset: ' || items_scored || ' of ' || items_full || ' items; not ranked'
            WHEN other_shots THEN 'shots differ from the v1 protocol; not ranked' END AS note
FROM board
ORDER BY rank NULLS LAST, average DESC
