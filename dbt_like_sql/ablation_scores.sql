-- The data ablation (paper: a 0.25B model trained on D1, D1+D2, D1+D2+D3 with the same init and
-- hyperparameters): each arm's v1 score (in %) per benchmark and on average, and its gain in points
-- over the arm with the fewest mix parts (D1 only).
WITH arms AS (
    SELECT run, mix_parts, benchmark, 100 * value AS score
    FROM {{ ref('benchmark_scores') }}
    WHERE ablation_arm
    UNION ALL
    SELECT run, mix_parts, 'average' AS benchmark, 100 * avg(value) AS score
    FROM {{ ref('benchmark_scores') }}
    WHERE ablation_arm
    GROUP BY run, mix_parts
), baseline AS (
    SELECT benchmark, score AS baseline_score
    FROM arms
    WHERE run = (SELECT run FROM arms ORDER BY length(mix_parts), run LIMIT 1)
)
SELECT arms.run, arms.mix_parts, arms.benchmark, round(arms.score, 2) AS score,
       round(arms.score - baseline.baseline_score, 2) AS gain_over_d1
FROM arms JOIN baseline USING (benchmark)
ORDER BY arms.benchmark, length(arms.mix_parts), arms.run
