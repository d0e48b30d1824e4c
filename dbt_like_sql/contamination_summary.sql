-- Per mix part: documents checked and removed by decontamination, and by which benchmark.
SELECT part,
       any_value(documents_checked) AS documents_checked,
       sum(removed) AS removed,
       round(100.0 * sum(removed) / nullif(any_value(documents_checked), 0), 3) AS removed_pct,
       string_agg(benchmark || ':' || removed, ', ' ORDER BY benchmark) FILTER (WHERE removed > 0) AS removed_by_benchmark
FROM {{ ref('contamination_report') }}
GROUP BY part
ORDER BY part
