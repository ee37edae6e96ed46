#!/usr/bin/env bash
# Regenerates the seed corpus of fuzz_stream (tests/fuzz/corpus/stream/):
# real `COPY (SELECT ...) TO STDOUT (FORMAT binary)` output of a throwaway
# PostgreSQL, for each column layout the plan module makes, prefixed with the
# three option bytes fuzz_stream.c reads (columns and options, pinned
# dimension, chunking). Run by hand when the layouts change; the output is
# committed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/tests/fuzz/corpus/stream
eval "$("$ROOT/tests/tools/pg.sh" start)"
trap '"$ROOT/tests/tools/pg.sh" stop "$PAIRPICK_PGDIR"' EXIT

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE img (id text, score float8, variance float8, topic text, emb real[], emb8 float8[], raw bytea);
INSERT INTO img VALUES
  ('a', 1.5, 0.01, 'cat', '{1,2,3,4}', '{1,2,3,4}', '\x0000803f000000400000404000008040'),
  ('b', 2.5, NULL, 'cat', '{0.5,0.25,-1,0}', '{0.5,0.25,-1,0}', '\x0000003f0000803e000080bf00000000'),
  (NULL, 3.0, 0.02, 'dog', '{1,1,1,1}', '{1,1,1,1}', '\x0000803f0000803f0000803f0000803f'),
  ('c', NULL, 0.03, 'dog', '{1,NULL,1,1}', '{1,NULL,1,1}', '\x0000803f'),
  ('d', 'NaN', 0.04, NULL, '{NaN,1,1,1}', '{NaN,1,1,1}', '\x0000c07f0000803f0000803f0000803f'),
  ('e', 'Infinity', 0.05, 'cat', '{1,2,3}', '{1,2,3}', NULL),
  ('a', 4.0, 0.06, 'cat', '{4,3,2,1}', '{4,3,2,1}', '\x00008040000040400000004000000000'),
  ('f', -1e300, 0.07, 'émoji 🐈', '{{1,2},{3,4}}', '{{1,2},{3,4}}', ''),
  ('g', 0, 0, '', '{}', '{}', '\x0000803f000000400000404000008040'),
  ('h', 2.5, 0.01, 'dog', NULL, NULL, '\x0000803f000000400000404000008040');
SQL

copy() { # name flags dim chunking select
    local name=$1 flags=$2 dim=$3 chunking=$4 select=$5
    {
        printf "\\x$(printf %02x "$flags")\\x$(printf %02x "$dim")\\x$(printf %02x "$chunking")"
        psql -X -q -v ON_ERROR_STOP=1 -c "COPY ($select) TO STDOUT (FORMAT binary)"
    } >"$OUT/$name"
}

mkdir -p "$OUT"
rm -f "$OUT"/seed-*
# bits: 1 score, 2 variance, 4 category, 8 embedding, 16 score required,
# 32 bytea, 64 pinned dim, 128 mismatch is an error
copy seed-score 17 0 0 "SELECT id, score FROM img"
copy seed-score-chunked 17 0 3 "SELECT id, score FROM img"
copy seed-score-optional 1 0 129 "SELECT id, score FROM img"
copy seed-score-variance 19 0 7 "SELECT id, score, variance FROM img"
copy seed-category 4 0 0 "SELECT id, topic FROM img"
copy seed-category-chunked 4 0 2 "SELECT id, topic FROM img"
copy seed-embedding-real 8 0 0 "SELECT id, emb FROM img"
copy seed-embedding-real-chunked 8 0 5 "SELECT id, emb FROM img"
copy seed-embedding-float8 8 0 1 "SELECT id, emb8 FROM img"
copy seed-embedding-bytea 40 0 0 "SELECT id, raw FROM img"
copy seed-embedding-pinned 72 4 4 "SELECT id, emb FROM img"
copy seed-embedding-pinned-error 200 4 0 "SELECT id, emb FROM img"
copy seed-embedding-score 25 0 6 "SELECT id, score, emb FROM img"
copy seed-all-columns 31 0 0 "SELECT id, score, variance, topic, emb FROM img"
copy seed-all-columns-bytea 63 0 9 "SELECT id, score, variance, topic, raw FROM img"
copy seed-empty 17 0 0 "SELECT id, score FROM img WHERE false"
copy seed-uuid-ids 17 0 0 "SELECT md5(i::text)::uuid::text, i * 0.5 FROM generate_series(1, 40) i"
ls -l "$OUT"
