#!/usr/bin/env bash
# Regenerates the seed corpus of fuzz_stream (tests/fuzz/corpus/stream/):
# real `COPY (SELECT ...) TO STDOUT (FORMAT binary)` output of a throwaway
# PostgreSQL, for each column layout the plan module makes, prefixed with the
# four option bytes fuzz_stream.c reads (columns and options, pinned
# dimension, chunking, embedding encoding). Needs pgvector installed (make
# deps-test) for its vector and halfvec seeds. Run by hand when the layouts
# change; the output is committed.
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
-- pgvector's types, in a table of their own so that img keeps its row
-- order; half16: a bytea of little-endian halves, as
-- source.embedding_format: float16 reads it
CREATE EXTENSION vector;
CREATE FUNCTION half_le(v halfvec) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT decode(string_agg(lpad(to_hex(get_byte(b, i + 1)), 2, '0')
                           || lpad(to_hex(get_byte(b, i)), 2, '0'), '' ORDER BY i), 'hex')
  FROM (SELECT halfvec_send(v) AS b) AS s, generate_series(4, octet_length(b) - 2, 2) AS i
$$;
-- the rows whose real[] pgvector takes (c, d, f and g hold a NULL, a NaN,
-- two dimensions, none); CASE keeps the cast from the others
CREATE TABLE pgv AS
  SELECT id, score, variance, topic, vec, half, half_le(half) AS half16
  FROM (SELECT *, CASE WHEN coalesce(id, '') NOT IN ('c', 'd', 'f', 'g') THEN emb::vector END AS vec,
               CASE WHEN coalesce(id, '') NOT IN ('c', 'd', 'f', 'g') THEN emb::halfvec END AS half
        FROM img) AS s;
-- a row of halves pgvector never sends (NaN, Inf, a subnormal) for the bytea
INSERT INTO pgv (id, score, half16) VALUES ('nan16', 1.0, '\x007e003c0100007c');
SQL

copy() { # name flags dim chunking select [encoding]
    local name=$1 flags=$2 dim=$3 chunking=$4 select=$5 encoding=${6:-0}
    {
        printf "\\x$(printf %02x "$flags")\\x$(printf %02x "$dim")\\x$(printf %02x "$chunking")\\x$(printf %02x "$encoding")"
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
copy seed-uuid-ids-score 17 128 0 "SELECT md5(i::text)::uuid, i * 1.0::float8 FROM generate_series(1, 40) i"
# encodings (the fourth byte): 1 vector, 2 halfvec, 3 bytea of float16
copy seed-vector 8 0 0 "SELECT id, vec FROM pgv" 1
copy seed-vector-chunked 25 0 5 "SELECT id, score, vec FROM pgv" 1
copy seed-vector-pinned 72 4 3 "SELECT id, vec FROM pgv" 1
copy seed-halfvec 8 0 0 "SELECT id, half FROM pgv" 2
copy seed-halfvec-chunked 31 0 7 "SELECT id, score, variance, topic, half FROM pgv" 2
copy seed-halfvec-pinned-error 200 4 0 "SELECT id, half FROM pgv" 2
copy seed-float16-bytea 8 0 0 "SELECT id, half16 FROM pgv" 3
copy seed-float16-bytea-chunked 25 0 2 "SELECT id, score, half16 FROM pgv" 3
# vector_send(...) in a bytea: the named mistake, for either bytea encoding
copy seed-vector-send-bytea 40 0 0 "SELECT id, vector_send(vec) FROM pgv" 0
copy seed-halfvec-send-float16 8 0 0 "SELECT id, halfvec_send(half) FROM pgv" 3
# values of the wrong encoding: vector bytes read as halfvec and back
copy seed-vector-as-halfvec 8 0 0 "SELECT id, vec FROM pgv" 2
copy seed-halfvec-as-vector 8 0 1 "SELECT id, half FROM pgv" 1

# Hand-made streams of one row (id "x", then the embedding field) whose
# vector does not fit its field: truncated, oversized, a dimension past the
# bytes, a nonzero unused half-word, a header cut short.
craft() { # name encoding field-hex
    local name=$1 encoding=$2 field=$3
    local length=$(( ${#field} / 2 ))
    {
        printf "\\x08\\x00\\x00\\x$(printf %02x "$encoding")"
        printf 'PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0'
        printf '\0\2\0\0\0\1x'
        printf "$(printf %08x "$length" | sed 's/../\\x&/g')"
        printf "$(printf %s "$field" | sed 's/../\\x&/g')"
        printf '\377\377'
    } >"$OUT/$name"
}
rm -f "$OUT"/seed-crafted-*
craft seed-crafted-vector-truncated 1 "000300003f8000004000"              # dim 3, 2 values
craft seed-crafted-vector-oversized 1 "000200003f800000400000004040000040800000"
craft seed-crafted-vector-dim-past-bytes 1 "ffff00003f800000"
craft seed-crafted-vector-unused 1 "000100013f800000"
craft seed-crafted-vector-header-cut 1 "0001"
craft seed-crafted-vector-empty 1 "00000000"
craft seed-crafted-halfvec-truncated 2 "000300003c00"
craft seed-crafted-halfvec-oversized 2 "000100003c003c003c00"
craft seed-crafted-halfvec-nan-inf 2 "000300007e007c000001"
craft seed-crafted-float16-odd-length 3 "003c00"
craft seed-crafted-float16-subnormals 3 "01000080ff03"
ls -l "$OUT"
