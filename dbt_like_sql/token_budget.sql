-- The paper's weights (Figure 2b per part, Table 3 per D1 source) beside what each run's mix holds.
WITH planned AS (
    SELECT run, part, sum(tokens) AS planned_tokens, count(*) AS planned_documents
    FROM {{ ref('training_mix') }} GROUP BY run, part
)
SELECT r.run, r.level, r.part, r.source, r.weight AS paper_weight,
       r.target_tokens, round(100 * r.target_share, 3) AS target_pct,
       r.realized_tokens, round(100 * r.realized_share, 3) AS realized_pct,
       r.epochs, r.available_tokens,
       CASE WHEN r.level = 'part' THEN p.planned_tokens END AS planned_tokens
FROM {{ ref('mix_report') }} r
LEFT JOIN planned p ON p.run = r.run AND p.part = r.part
ORDER BY r.run, r.level, r.part, r.source
