-- Stored cluster models (`pairpick fit`, strategy.clusters_from): fitted
-- once, then every run assigns images to the same centres, so a cluster id
-- means the same thing from one day to the next. Global, not per output
-- table. Versions of a name count up from 1; old versions are kept.
-- Vectors are little-endian float32 in bytea: centers is clusters x space
-- dimension (pca_components when there is a PCA, else dim), pca_basis is
-- pca_components x dim, pca_mean is dim.
CREATE TABLE IF NOT EXISTS pairpick_cluster_models (
    name           text        NOT NULL,
    version        integer     NOT NULL CHECK (version >= 1),
    job            text        NOT NULL,
    metric         text        NOT NULL CHECK (metric IN ('cosine', 'euclidean')),
    dim            integer     NOT NULL CHECK (dim >= 1),
    clusters       integer     NOT NULL CHECK (clusters >= 1),
    pca_components integer     NOT NULL DEFAULT 0 CHECK (pca_components >= 0),
    variance_kept  double precision,
    pca_mean       bytea,
    pca_basis      bytea,
    centers        bytea       NOT NULL,
    fitted_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    selected_rows  bigint      NOT NULL,
    fit_rows       bigint      NOT NULL,
    inertia        double precision NOT NULL,
    iterations     integer     NOT NULL,
    seed           numeric(20, 0) NOT NULL,
    config_digest  text        NOT NULL,
    PRIMARY KEY (name, version)
);

-- Per cluster at fit time, over the rows fitted on: the baseline of drift.
CREATE TABLE IF NOT EXISTS pairpick_cluster_model_clusters (
    name          text    NOT NULL,
    version       integer NOT NULL,
    cluster       integer NOT NULL,
    fit_rows      bigint  NOT NULL,
    share         double precision NOT NULL,
    mean_distance double precision NOT NULL,
    PRIMARY KEY (name, version, cluster),
    FOREIGN KEY (name, version) REFERENCES pairpick_cluster_models (name, version)
        ON DELETE CASCADE
);

-- Which model a run assigned with, and whether the run fitted it.
ALTER TABLE pairpick_runs ADD COLUMN IF NOT EXISTS model_name text;
ALTER TABLE pairpick_runs ADD COLUMN IF NOT EXISTS model_version integer;
ALTER TABLE pairpick_runs ADD COLUMN IF NOT EXISTS model_refitted boolean;
