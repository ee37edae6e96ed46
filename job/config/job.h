/*
 * job: the JobConfig type, what a validated job file says, and its enums.
 * config.h reads a file into one; the config modules fill it and the rest
 * of the program reads it. Beside the types, only the names of its enums.
 *
 * Every string in a JobConfig is owned by it (config_free).
 */
#ifndef PAIRPICK_CONFIG_JOB_H
#define PAIRPICK_CONFIG_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "numeric/informative.h"
#include "numeric/kmeans.h"

typedef enum {
    STRATEGY_SCORE,          /* score bins */
    STRATEGY_CATEGORY,       /* a category column */
    STRATEGY_EMBEDDING,      /* k-means clusters of embeddings */
    STRATEGY_EMBEDDING_SCORE /* clusters, then score bins inside each */
} StrategyBy;

typedef enum { BINNING_QUANTILE, BINNING_FIXED } Binning;
typedef enum { BAD_ROW_ERROR, BAD_ROW_SKIP } BadRowPolicy;
/* What a bytea embedding holds: little-endian float32 or float16 values. */
typedef enum { EMBEDDING_BYTES_FLOAT32, EMBEDDING_BYTES_FLOAT16 } EmbeddingBytes;

/* An optional bound: `set` is false when the key was absent. */
typedef struct {
    bool set;
    double value;
} OptionalDouble;

/*
 * A date bound as written: an ISO date (2026-11-01) or timestamp
 * (2026-11-01T12:00:00Z, 2026-11-01 12:00:00+02). `date_only` is true for the
 * plain date form: as `to`, it then includes that whole day.
 */
typedef struct {
    bool set;
    bool date_only;
    char text[64];
} DateBound;

typedef struct JobConfig {
    char *path;        /* the file it was read from */
    char *text;        /* the file's bytes as read (for the config digest) */
    size_t text_length;

    char *job;         /* required: names run records and the lock */

    struct {
        char *conninfo;              /* NULL: libpq's PG* environment variables */
        int64_t statement_timeout_ms; /* 0: server default */
        int64_t lock_timeout_ms;      /* 0: server default */
        int connect_retries;          /* default 3 */
        int64_t connect_timeout_ms;   /* default 10 s */
    } database;

    struct {
        char *table;       /* schema-qualified or not; exactly one of table/query */
        char *query;       /* a SELECT of the user's own, used as a subquery */
        char *id;          /* required */
        char *score;       /* required for by: score and [embedding, score] */
        char *variance;
        char *date;
        char *embedding;   /* a column or an expression: real[], pgvector's vector ... */
        char *category;    /* required for by: category */
        char *image_path;  /* a column, or a template containing "{id}" */
        char *image_root;  /* folder that relative image paths start from */
        int embedding_dim; /* 0: read from the data */
        EmbeddingBytes embedding_format; /* what a bytea embedding holds; default float32 */
        BadRowPolicy on_bad_row; /* default BAD_ROW_SKIP */
    } source;

    struct {
        OptionalDouble score_min, score_max;
        OptionalDouble variance_min, variance_max;
        DateBound date_from, date_to;
        int64_t date_last_ms; /* 0: unset; {last: 7d} -> 7 days in ms */
    } filters;

    struct {
        StrategyBy by;
        int bins;               /* default 10, >= 1 */
        Binning binning;        /* default quantile */
        int clusters;           /* default 50, >= 1 */
        struct {
            KmeansAlgorithm algorithm; /* default minibatch */
            int max_iter;              /* default 100 */
            int n_init;                /* default 3 */
            int batch_size;            /* default 1024 */
            KmeansMetric metric;       /* default cosine */
            double tolerance;          /* default 1e-4 */
            int64_t fit_sample;        /* 0: fit a model on every selected row */
            int64_t refit_after_ms;    /* 0: never refit during a run */
            int pca;                   /* 0: no PCA; else components kept */
        } kmeans;
        char *clusters_from;    /* "MODEL" or "MODEL@VERSION": assign, do not fit */
        int64_t max_pairs;      /* default 1000, >= 1 */
        bool seed_set;
        uint64_t seed;
        InformPrefer prefer;    /* default informative with by: score, else random */
        double score_sigma;     /* default 0.1: sigma of an image without a variance */
        double beta;            /* default 0.1: per-comparison noise */
        int window;             /* default 8: score neighbours per image */
        double explore_fraction; /* default 0: share of cross-category pairs */
        int max_exposure;       /* 0: no cap on pending pairs per image */
        int max_comparisons;    /* 0: no cap on annotated pairs per image */
        OptionalDouble max_similarity; /* cosine; needs source.embedding */
    } strategy;

    struct {
        char *table; /* default "pending_annotation_pairs" */
        int64_t max_pending; /* 0: no cap on this job's pending pairs */
    } output;

    struct {
        int64_t memory_limit_bytes; /* 0: no limit */
        int workers;                /* 0: number of cores */
    } resources;
} JobConfig;

/* The strategy's name as written in YAML: "score", "[embedding, score]" ... */
const char *config_strategy_name(StrategyBy by);

#endif
