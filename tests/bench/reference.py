"""The prototype's pipeline, as its team ran it, for the benchmark.

Reproduces seed/000_91d32aec8ce17b2a.txt end to end against the benchmark
database: psycopg2 fetch (cursor.fetchall, real[] parsed into Python lists,
then np.array), MiniBatchKMeans(n_clusters, max_iter=100, n_init=3) or the
prototype's quantile bins, the prototype's get_candidate_pairs_within_category
(pandas), and an insert with psycopg2.extras.execute_values. The prototype's
defects are kept on purpose: this measures what it cost, not what it chose.

    reference.py embedding|score --sql SELECT --table OUT --run-id ID
                 [--max-pairs N] [--clusters K] [--bins B] [--seed S]

Connects with libpq's PG* environment variables. Prints one JSON line with
the seconds of each stage (fetch, cluster or bin, pair, insert).
"""
import time

_STARTED = time.perf_counter()  # before the imports: their cost is part of a run

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import numpy as np
import pandas as pd  # noqa: E402
import psycopg2  # noqa: E402
import psycopg2.extras  # noqa: E402
from sklearn.cluster import MiniBatchKMeans  # noqa: E402


# ---- the prototype, verbatim but for formatting ----------------------------

def get_candidate_pairs_within_category(job_uuids: list, categories: np.ndarray, max_pairs: int):
    df = pd.DataFrame(np.stack([job_uuids, categories], axis=-1), columns=['job_uuid', 'category'])
    n_bins = len(np.unique(categories))
    max_pairs_within_bins = max_pairs // n_bins
    pairs = list()
    for c, g in df.groupby('category'):
        if g.shape[0] <= 1:
            continue
        sub_uuids = list(g['job_uuid'])
        np.random.shuffle(sub_uuids)
        cn2 = len(sub_uuids) * (len(sub_uuids) - 1) / 2
        step = max(1, int(cn2 // max_pairs_within_bins))
        sub_pairs = list()
        for i, uuid_i in enumerate(sub_uuids[:-1]):
            for uuid_j in sub_uuids[i + 1::step]:
                sub_pairs.append((uuid_i, uuid_j))
            if len(sub_pairs) > max_pairs_within_bins:
                break
        if len(sub_pairs) == 0:
            sub_pairs.append((sub_uuids[0], sub_uuids[1]))
        pairs += sub_pairs[:max_pairs_within_bins]
    return pairs


def score_to_category_with_quantities(scores: np.ndarray, n_categories: int):
    rank = np.argsort(scores)
    n_samples = len(rank)
    step = int(np.ceil(n_samples / n_categories))
    return (rank + ((step - n_samples % step) // 2)) // step


def embedding_to_category(embeddings: np.ndarray, n_clusters: int, seed: int):
    # The prototype had no random_state; one is given here so that repeated
    # benchmark runs do the same work.
    model = MiniBatchKMeans(n_clusters=n_clusters, max_iter=100, n_init=3, random_state=seed)
    return model.fit_predict(embeddings)


# ---- the pipeline around it ------------------------------------------------

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('mode', choices=['embedding', 'score'])
    parser.add_argument('--sql', required=True)
    parser.add_argument('--table', required=True)
    parser.add_argument('--run-id', required=True)
    parser.add_argument('--max-pairs', type=int, default=1000)
    parser.add_argument('--clusters', type=int, default=50)
    parser.add_argument('--bins', type=int, default=10)
    parser.add_argument('--seed', type=int, default=42)
    args = parser.parse_args()

    np.random.seed(args.seed)
    t_start = time.perf_counter()
    stages = {'import': t_start - _STARTED}
    conn = psycopg2.connect('')
    cur = conn.cursor()

    # fetch: the SELECT, fetchall, and the conversion to numpy
    t0 = time.perf_counter()
    cur.execute(args.sql)
    rows = cur.fetchall()
    t1 = time.perf_counter()
    rows_read = len(rows)
    if args.mode == 'embedding':
        rows = [r for r in rows if r[0] is not None and r[-1] is not None]
        job_uuids = [r[0] for r in rows]
        score_of = {r[0]: r[1] for r in rows}
        embeddings = np.array([r[-1] for r in rows])
    else:
        rows = [r for r in rows if r[0] is not None and r[1] is not None]
        job_uuids = [r[0] for r in rows]
        score_of = {r[0]: r[1] for r in rows}
        scores = np.array([r[1] for r in rows])
    t2 = time.perf_counter()
    stages['fetch'] = t2 - t0
    stages['fetch_query'] = t1 - t0
    stages['fetch_convert'] = t2 - t1

    # categorize
    if args.mode == 'embedding':
        categories = embedding_to_category(embeddings, args.clusters, args.seed)
        matrix_dtype, matrix_bytes = str(embeddings.dtype), int(embeddings.nbytes)
        del embeddings
        stages['cluster'] = time.perf_counter() - t2
    else:
        categories = score_to_category_with_quantities(scores, args.bins)
        matrix_dtype, matrix_bytes = str(scores.dtype), int(scores.nbytes)
        stages['bin'] = time.perf_counter() - t2
    t3 = time.perf_counter()

    # pair
    pairs = get_candidate_pairs_within_category(job_uuids, categories, args.max_pairs)
    t4 = time.perf_counter()
    stages['pair'] = t4 - t3

    # insert, in the shape of pairpick's pending table
    label_of = dict(zip(job_uuids, (str(c) for c in categories)))
    values = []
    for a, b in pairs:
        if b < a:
            a, b = b, a
        values.append((a, b, label_of[a], score_of[a], score_of[b], args.run_id))
    psycopg2.extras.execute_values(
        cur,
        'INSERT INTO ' + args.table
        + ' (image_a, image_b, category, score_a, score_b, run_id) VALUES %s',
        values)
    conn.commit()
    t5 = time.perf_counter()
    stages['insert'] = t5 - t4
    conn.close()

    print(json.dumps({
        'mode': args.mode,
        'rows_read': rows_read,
        'candidates': len(job_uuids),
        'categories': int(len(np.unique(categories))),
        'pairs_requested': args.max_pairs,
        'pairs_inserted': len(values),
        'matrix_dtype': matrix_dtype,
        'matrix_bytes': matrix_bytes,
        'stage_seconds': {k: round(v, 4) for k, v in stages.items()},
        'seconds': round(time.perf_counter() - _STARTED, 4),
    }))
    return 0


if __name__ == '__main__':
    sys.exit(main())
