-- The pending-annotation table named by output.table (applied once per
-- output table; @OUTPUT_TABLE@ is replaced by the quoted name).
-- image_a < image_b in byte order (COLLATE "C", as strcmp sees them), so a
-- pair has one spelling and the unique constraint catches it in either order.
CREATE TABLE IF NOT EXISTS @OUTPUT_TABLE@ (
    image_a    text COLLATE "C" NOT NULL,
    image_b    text COLLATE "C" NOT NULL,
    category   text,
    score_a    double precision,
    score_b    double precision,
    job        text        NOT NULL,
    run_id     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    status     text        NOT NULL DEFAULT 'pending',
    CHECK (image_a < image_b),
    UNIQUE (image_a, image_b),
    FOREIGN KEY (job, run_id) REFERENCES pairpick_runs (job, run_id)
);

-- The run looks up pairs already proposed among its images by either side.
CREATE INDEX ON @OUTPUT_TABLE@ (image_b);
CREATE INDEX ON @OUTPUT_TABLE@ (job, status);
