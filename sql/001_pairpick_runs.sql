-- pairpick's run records: one row per (job, run_id). Schedulers pass their
-- own run ids (Airflow: scheduled__2026-11-28T00:00:00+00:00), so run_id is
-- text and unique only within a job.
CREATE TABLE IF NOT EXISTS pairpick_runs (
    job             text        NOT NULL,
    run_id          text        NOT NULL,
    status          text        NOT NULL
                    CHECK (status IN ('running', 'succeeded', 'failed')),
    seed            numeric(20, 0) NOT NULL,
    strategy        text        NOT NULL,
    output_table    text        NOT NULL,
    config_digest   text        NOT NULL,
    dry_run         boolean     NOT NULL DEFAULT false,
    rows_read       bigint,
    rows_skipped    bigint,
    filtered_out    bigint,
    candidates      bigint,
    categories      integer,
    pairs_requested bigint,
    pairs_available bigint,
    pairs_chosen    bigint,
    pairs_inserted  bigint,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    error           text,
    PRIMARY KEY (job, run_id)
);

CREATE INDEX IF NOT EXISTS pairpick_runs_job_started
    ON pairpick_runs (job, started_at DESC);
