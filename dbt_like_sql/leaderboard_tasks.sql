-- The leaderboard one row per model and benchmark (scores and standard errors in %), with what each
-- score rests on: the items scored against the split the v1 leaderboard scored (`subset` when fewer)
-- and the shots against the protocol's. The paper's rows are full splits under the v1 shots (the
-- paper gives no standard errors). `rank` orders a benchmark's comparable scores only: a subset or
-- other-shots score is never ranked among full ones.
WITH protocol AS (
    SELECT DISTINCT benchmark, n_items_full, v1_few_shot FROM {{ ref('benchmark_scores') }}
), paper AS (
    SELECT origin, model, benchmark, score
    FROM (SELECT origin, model, mmlu, arc_challenge, truthfulqa, winogrande, hellaswag, gsm8k
          FROM {{ ref('leaderboard') }} WHERE origin <> 'this platform')
    UNPIVOT (score FOR benchmark IN (mmlu, arc_challenge, truthfulqa, winogrande, hellaswag, gsm8k))
), scores AS (
    SELECT paper.origin, paper.model, benchmark, paper.score, CAST(NULL AS DOUBLE) AS stderr,
           n_items_full AS n_items, n_items_full, v1_few_shot AS few_shot, v1_few_shot, false AS subset
    FROM paper JOIN protocol USING (benchmark)
    UNION ALL
    SELECT 'this platform', 'run:' || run, benchmark, round(100 * value, 2), round(100 * stderr, 2),
           n_items, n_items_full, few_shot, v1_few_shot, subset
    FROM {{ ref('benchmark_scores') }}
)
SELECT origin, model, benchmark,
       CASE WHEN NOT (subset OR few_shot <> v1_few_shot)
            THEN rank() OVER (PARTITION BY benchmark, subset OR few_shot <> v1_few_shot ORDER BY score DESC)
       END AS rank,
       score, stderr, n_items, n_items_full, subset, few_shot, v1_few_shot
FROM scores
ORDER BY benchmark, rank NULLS LAST, score DESC
