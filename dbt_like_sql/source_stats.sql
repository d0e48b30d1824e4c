-- Documents, bytes and quarantined rows per source, and what D1 kept of them.
WITH raw AS (
    SELECT source, any_value(category) AS category, count(*) AS raw_documents, sum(strlen(text)) AS raw_bytes
    FROM {{ ref('raw_documents') }} GROUP BY source
), quarantined AS (
    SELECT source, count(*) AS quarantined FROM {{ ref('raw_quarantine') }} GROUP BY source
), d1 AS (
    SELECT source, count(*) AS d1_documents, sum(strlen(text)) AS d1_bytes FROM {{ ref('d1_documents') }} GROUP BY source
)
SELECT raw.source, raw.category, raw.raw_documents, raw.raw_bytes,
       coalesce(quarantined.quarantined, 0) AS quarantined,
       coalesce(d1.d1_documents, 0) AS d1_documents, coalesce(d1.d1_bytes, 0) AS d1_bytes
FROM raw
LEFT JOIN quarantined USING (source)
LEFT JOIN d1 USING (source)
ORDER BY raw.source
