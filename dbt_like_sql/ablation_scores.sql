-- The data ablation (paper: a 0.25B model trained on D1, D1+D2, D1+D2+D3 with the same init and
-- hyperparameters): each arm's v1 score (in %) per benchmark and on average with its standard error,
-- and its gain in points over the arm with the fewest mix parts (D1 only). gain_stderr treats the two
-- arms' scores as independent; gain_within_error is true when the gain's 95% interval (1.96 standard
-- errors) includes zero: a difference too small to call (the rule of evaluation.assets.within_error).
WITH arms AS (
    SELECT run, mix_parts, benchmark, 100 * value AS score, 100 * stderr AS stderr, n_items, subset
    FROM {{ ref('benchmark_scores') }}
    WHERE ablation_arm
    UNION ALL
    SELECT run, mix_parts, 'average' AS benchmark, 100 * avg(value) AS score,
           CASE WHEN count(stderr) = count(*) THEN 100 * sqrt(sum(stderr * stderr)) / count(*) END AS stderr,
           sum(n_items) AS n_items, bool_or(subset) AS subset
    FROM {{ ref('benchmark_scores') }}
    WHERE ablation_arm
    GROUP BY run, mix_parts
), baseline AS (
    SELECT benchmark, run AS baseline_run, score AS baseline_score, stderr AS baseline_stderr
    FROM arms
    WHERE run = (SELECT run FROM arms ORDER BY length(mix_parts), run LIMIT 1)
), gains AS (
    SELECT arms.*, arms.score - baseline.baseline_score AS gain,
           CASE WHEN arms.run <> baseline_run  -- the baseline's own gain is 0 by definition
                THEN sqrt(arms.stderr * arms.stderr + baseline_stderr * baseline_stderr) END AS gain_stderr
    FROM arms JOIN baseline USING (benchmark)
)
SELECT run, mix_parts, benchmark, round(score, 2) AS score, round(stderr, 2) AS stderr, n_items, subset,
       round(gain, 2) AS gain_over_d1, round(gain_stderr, 2) AS gain_stderr,
       abs(gain) < 1.96 * gain_stderr AS gain_within_error
FROM gains
ORDER BY benchmark, length(mix_parts), run
