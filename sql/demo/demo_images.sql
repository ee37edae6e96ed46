-- Demo source data for pairpick, generated in SQL (reproducible: setseed).
-- Stands for someone else's image table: scores and score variances from a
-- scoring model, creation dates, a topic, a 768-d CLIP-like embedding drawn
-- around one of 30 topic centers, and a file path.
--   psql -v images=5000 -f sql/demo/demo_images.sql
\set ON_ERROR_STOP on
\if :{?images}
\else
\set images 5000
\endif

DROP SCHEMA IF EXISTS demo CASCADE;
CREATE SCHEMA demo;

SELECT setseed(0.42);

-- Topic centers: random directions; each topic has its own typical score.
CREATE TABLE demo.topics AS
SELECT t AS topic_id,
       (ARRAY['portrait', 'landscape', 'anime', 'pixel-art', 'mario-style', 'watercolor',
              'cyberpunk', 'still-life', 'architecture', 'macro', 'fantasy', 'sci-fi',
              'sketch', 'oil-painting', 'low-poly', 'vaporwave', 'botanical', 'underwater',
              'steampunk', 'minimalist', 'graffiti', 'noir', 'isometric', 'ukiyo-e',
              'claymation', 'stained-glass', 'infrared', 'blueprint', 'mosaic', 'neon'])[t + 1]
           AS topic,
       1.0 + 2.5 * random() AS mean_score,
       (SELECT array_agg((random() * 2 - 1)::real ORDER BY d) FROM generate_series(1, 768) d
         WHERE t >= 0) AS center
FROM generate_series(0, 29) AS t;

CREATE TABLE demo.images (
    job_uuid       uuid PRIMARY KEY,
    score          double precision,
    score_variance double precision,
    created_at     timestamptz NOT NULL,
    topic          text NOT NULL,
    clip_embedding real[],
    clip_bytes     bytea,
    file_path      text NOT NULL
);

INSERT INTO demo.images (job_uuid, score, score_variance, created_at, topic, clip_embedding,
                         file_path)
SELECT md5('pairpick-demo-' || i)::uuid,
       -- about 1% of images have no score yet
       CASE WHEN random() < 0.01 THEN NULL
            ELSE round((t.mean_score + 0.6 * (random() + random() + random() - 1.5))::numeric, 4)
       END,
       round((0.002 + 0.08 * random())::numeric, 5),
       timestamptz '2026-11-28 00:00:00+00' - (random() * 60) * interval '1 day',
       t.topic,
       (SELECT array_agg((t.center[d] + 0.35 * (random() + random() - 1))::real ORDER BY d)
          FROM generate_series(1, 768) d WHERE i > 0),
       'images/' || md5('pairpick-demo-' || i)::uuid || '.svg'
FROM generate_series(1, :images) AS i
JOIN demo.topics AS t ON t.topic_id = i % 30;

-- The same embeddings as little-endian float32 bytes, for bytea sources
-- (float4send gives big-endian bytes; each group of four is reversed).
UPDATE demo.images SET clip_bytes = (
    SELECT decode(string_agg(substr(h, 7, 2) || substr(h, 5, 2) || substr(h, 3, 2)
                             || substr(h, 1, 2), '' ORDER BY ord), 'hex')
      FROM (SELECT ord, encode(float4send(v), 'hex') AS h
              FROM unnest(clip_embedding) WITH ORDINALITY AS u(v, ord)) AS parts);

ANALYZE demo.images;
SELECT count(*) AS images, count(score) AS scored, count(DISTINCT topic) AS topics FROM demo.images;
