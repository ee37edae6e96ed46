#!/usr/bin/env bash
# Integration tests of pgvector columns read natively (vector, halfvec) and
# of float16 byteas, against a throwaway PostgreSQL with the real pgvector
# extension: the same pairs and labels as the real[] copy of the same data
# in memory, bounded, over 2 workers, through a stored model and in
# `sample`; NULLs, dimension mismatches and pinned dimensions as for arrays;
# the vector_send(...)-as-bytea mistake named. pgvector is a test
# dependency (`make deps-test` installs or builds it); where it is missing
# every test here is reported as skipped. Usage: pgvector.sh [test_name ...]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PGVECTOR_CONTROL=${PGVECTOR_CONTROL:-/usr/share/postgresql/15/extension/vector.control}
DIM=16

# The extension lives in a schema of its own, off the search_path: pairpick
# must find its types by name and owner, whatever their schema and OIDs.
#
# img: 5 well separated blobs of DIM-d vectors in four copies per row:
# real[], vector, halfvec and a bytea of little-endian float16. The values
# are multiples of 1/16 below 16 in magnitude, which a half holds exactly,
# so all four copies hold the same float32 values. noisy: the same blobs
# with noise that a half rounds (the halfvec copy differs in its last bits).
make_schema() {
    sql "CREATE SCHEMA pgv;
         CREATE EXTENSION vector SCHEMA pgv;
         CREATE FUNCTION half_le(v pgv.halfvec) RETURNS bytea LANGUAGE sql IMMUTABLE AS \$\$
           SELECT decode(string_agg(lpad(to_hex(get_byte(b, i + 1)), 2, '0')
                                    || lpad(to_hex(get_byte(b, i)), 2, '0'), '' ORDER BY i), 'hex')
           FROM (SELECT pgv.halfvec_send(v) AS b) AS s,
                generate_series(4, octet_length(pgv.halfvec_send(v)) - 2, 2) AS i
         \$\$;
         CREATE TABLE img (id text PRIMARY KEY, blob int, score float8, e_real real[],
                           e_vec pgv.vector($DIM), e_half pgv.halfvec($DIM), e_bytes bytea);
         INSERT INTO img (id, blob, score, e_real)
           SELECT 'i' || lpad(i::text, 5, '0'), i % 5, (i % 97) / 10.0,
                  (SELECT array_agg((((i % 5) * 7 + k * 3) % 11 - 5
                                     + ((i * 31 + k * 17) % 13 - 6) / 16.0)::real ORDER BY k)
                   FROM generate_series(1, $DIM) AS k)
           FROM generate_series(1, 1500) AS i;
         UPDATE img SET e_vec = e_real::pgv.vector, e_half = e_real::pgv.halfvec;
         UPDATE img SET e_bytes = half_le(e_half);
         CREATE TABLE noisy (LIKE img);
         INSERT INTO noisy (id, blob, score, e_real)
           SELECT 'n' || lpad(i::text, 5, '0'), i % 5, random(),
                  (SELECT array_agg((((i % 5) * 7 + k * 3) % 11 - 5 + (random() - 0.5) * 0.8)::real
                                    ORDER BY k) FROM generate_series(1, $DIM) AS k)
           FROM generate_series(1, 1500) AS i;
         UPDATE noisy SET e_vec = e_real::pgv.vector, e_half = e_real::pgv.halfvec;" >/dev/null
}

# A config over table $2, embedding column $3, output $4; $1 job; then extra lines
# for the strategy section, and a whole section or more after a line "--".
pgv_config() {
    local job=$1 table=$2 column=$3 output=$4
    shift 4
    local strategy="" tail="" seen=0
    for line in "$@"; do
        if [ "$line" = "--" ]; then seen=1; continue; fi
        if [ $seen -eq 0 ]; then strategy="$strategy  $line"$'\n'; else tail="$tail$line"$'\n'; fi
    done
    write_config "$job" <<YAML
job: $job
source:
  table: $table
  id: id
  score: score
  embedding: $column
  image_path: images/{id}.svg
strategy:
  by: embedding
  clusters: 5
  max_pairs: 400
  seed: 11
  kmeans: {metric: euclidean}
$strategy
output:
  table: $output
$tail
YAML
}

# image_a|image_b|category of every pair in output table $1 for run $2.
pairs_of() {
    sql "SELECT image_a, image_b, category FROM $1 WHERE run_id = '$2' ORDER BY 1, 2"
}

# Whether two label files (id,label lines) are the same partition up to renaming.
same_partition() { # file_a file_b what
    local a=$1 b=$2
    expect_eq "$(wc -l <"$a")" "$(wc -l <"$b")" "$3: rows"
    pairs=$(join -t, <(sort "$a") <(sort "$b") | awk -F, '{print $2 "|" $3}' | sort -u | wc -l)
    left=$(cut -d, -f2 "$a" | sort -u | wc -l)
    right=$(cut -d, -f2 "$b" | sort -u | wc -l)
    expect_eq "$pairs $right" "$left $left" "$3: label pairs and labels (one to one)"
}

# Runs job $1 (config $2) for real and with --labels-file; pairs in $WORK/$1.pairs.
run_and_keep() {
    pp migrate "$2"; expect_status 0
    pp run "$2" --run-id "$1" --labels-file "$WORK/$1.labels"; expect_status 0
    tail -n 1 "$WORK/out" >"$WORK/$1.json"
    pairs_of "$3" "$1" >"$WORK/$1.pairs"
    sort "$WORK/$1.labels" >"$WORK/$1.sorted"
}

# The same selection as real[], vector, halfvec and float16 bytea gives the
# same pairs, labels and counts, in memory, bounded and over 2 workers.
check_same_as_real() { # mode, then extra config lines for every column
    local mode=$1
    shift
    for column in e_real e_vec e_half e_bytes; do
        # an output table each: a run never proposes a pair the table holds
        cfg=$(pgv_config "$mode-$column" img "$column" "t_${mode}_$column" "$@")
        if [ "$column" = e_bytes ]; then
            sed -i 's/^  embedding: e_bytes$/  embedding: e_bytes\n  embedding_format: float16/' "$cfg"
        fi
        run_and_keep "$mode-$column" "$cfg" "t_${mode}_$column"
        expect_eq "$(json_field rows_read) $(json_field rows_skipped)" "1500 0" "$mode $column rows"
    done
    for column in e_vec e_half e_bytes; do
        cmp -s "$WORK/$mode-e_real.sorted" "$WORK/$mode-$column.sorted" \
            || fail "$mode: labels of $column differ from real[]'s"
        cmp -s "$WORK/$mode-e_real.pairs" "$WORK/$mode-$column.pairs" \
            || fail "$mode: pairs of $column differ from real[]'s"
    done
    expect_eq "$(wc -l <"$WORK/$mode-e_real.pairs")" 400 "$mode: pairs"
}

test_in_memory_same_as_real_array() {
    check_same_as_real mem
    expect_eq "$(json_field memory_mode)" in_memory "memory mode"
}

test_bounded_same_as_real_array() {
    # selection.c's estimate: 96 MiB, 96 bytes a row and the 96 kB matrix
    # (1500 x 16 float32); 40 kB less holds a sample of 500 rows, not the matrix
    check_same_as_real bounded -- 'resources:' "  memory_limit: $((96 * 1048576 + 1500 * 96 + 40000))" \
        '  workers: 1'
    for column in e_real e_vec e_half e_bytes; do
        expect_grep '"memory_mode":"bounded"' "$WORK/bounded-$column.json"
    done
}

test_two_workers_same_as_real_array() {
    check_same_as_real workers -- 'resources:' '  workers: 2'
}

test_halfvec_same_clusters_on_separable_data() {
    # half precision rounds these values: the same clusters, not the same bits
    for column in e_real e_half e_vec; do
        cfg=$(pgv_config "noisy-$column" noisy "$column" "t_noisy_$column")
        run_and_keep "noisy-$column" "$cfg" "t_noisy_$column"
    done
    same_partition "$WORK/noisy-e_real.sorted" "$WORK/noisy-e_half.sorted" "halfvec vs real[]"
    cmp -s "$WORK/noisy-e_real.sorted" "$WORK/noisy-e_vec.sorted" || fail "vector labels differ from real[]'s"
    # each blob is one cluster
    expect_eq "$(join -t, "$WORK/noisy-e_half.sorted" \
        <(sql "SELECT id || ',' || blob FROM noisy ORDER BY 1") | cut -d, -f2,3 | sort -u | wc -l)" 5 \
        "blob -> cluster is one to one (halfvec)"
}

test_model_fitted_on_real_assigns_vector_rows() {
    cfg=$(pgv_config fit-real img e_real t_model "clusters_from: blobs")
    pp migrate "$cfg"; expect_status 0
    pp fit "$cfg"; expect_status 0
    expect_eq "$(json_field dim)" "$DIM" "fitted dim"
    for column in e_real e_vec e_half; do
        cfg=$(pgv_config "assign-$column" img "$column" t_model "clusters_from: blobs")
        pp run "$cfg" --dry-run --labels-file "$WORK/assign-$column.csv"; expect_status 0
        expect_eq "$(json_field memory_mode)" assign "memory mode ($column)"
        sort "$WORK/assign-$column.csv" >"$WORK/assign-$column.sorted"
    done
    cmp -s "$WORK/assign-e_real.sorted" "$WORK/assign-e_vec.sorted" || fail "vector rows assigned otherwise"
    cmp -s "$WORK/assign-e_real.sorted" "$WORK/assign-e_half.sorted" || fail "halfvec rows assigned otherwise"
    # a model fitted on halfvec over 2 workers assigns real[] rows the same way
    cfg=$(pgv_config fit-half img e_half t_model "clusters_from: halves" -- 'resources:' '  workers: 2')
    pp fit "$cfg"; expect_status 0
    cfg=$(pgv_config assign-real img e_real t_model "clusters_from: halves")
    pp run "$cfg" --dry-run --labels-file "$WORK/halves.csv"; expect_status 0
    same_partition "$WORK/assign-e_real.sorted" "$WORK/halves.csv" "fitted on halfvec, assigned real[]"
}

test_sample_reads_vector_columns() {
    mkdir -p "$WORK/images"
    for id in $(sql "SELECT id FROM img"); do : >"$WORK/images/$id.svg"; done
    for column in e_real e_vec e_half; do
        cfg=$(pgv_config "sample-$column" img "$column" t_sample)
        pp sample "$cfg" --out "$WORK/sheet-$column" --per-category 10000 --seed 1; expect_status 0
        (cd "$WORK/sheet-$column" && find . -name '*.svg' | sort) >"$WORK/sheet-$column.list"
    done
    expect_eq "$(wc -l <"$WORK/sheet-e_real.list")" 1500 "every image placed"
    cmp -s "$WORK/sheet-e_real.list" "$WORK/sheet-e_vec.list" || fail "vector sheet differs"
    cmp -s "$WORK/sheet-e_real.list" "$WORK/sheet-e_half.list" || fail "halfvec sheet differs"
}

test_nulls_mismatches_and_pinned_dims_as_for_arrays() {
    sql "CREATE TABLE odd (id text, score float8, e_real real[], e_vec pgv.vector, e_half pgv.halfvec);
         INSERT INTO odd SELECT id, score, e_real, e_vec, e_half FROM img WHERE blob < 2 AND id < 'i00600';
         UPDATE odd SET e_real = NULL, e_vec = NULL, e_half = NULL WHERE id IN ('i00005', 'i00010', 'i00015');
         UPDATE odd SET e_real = e_real[1:8] WHERE id IN ('i00020', 'i00025');
         UPDATE odd SET e_vec = e_real::pgv.vector, e_half = e_real::pgv.halfvec;" >/dev/null
    for column in e_real e_vec e_half; do
        cfg=$(pgv_config "odd-$column" odd "$column" t_odd)
        sed -i 's/clusters: 5/clusters: 2/' "$cfg"
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg" --dry-run; expect_status 0
        expect_eq "$(json_field rows_read) $(json_field rows_skipped)" "$(sql "SELECT count(*) FROM odd") 5" "$column rows"
        expect_grep "null_embedding 3" "$WORK/err"
        expect_grep "dim_mismatch 2" "$WORK/err"
        # pinned dimension with on_bad_row: error -> exit 65
        sed -i "s/^  embedding: $column\$/  embedding: $column\n  embedding_dim: $DIM\n  on_bad_row: error/" "$cfg"
        pp run "$cfg" --dry-run; expect_status 65
        expect_grep "has an embedding of a dimension other than $DIM" "$WORK/err"
    done
}

test_vector_send_as_bytea_is_named() {
    for expression in "pgv.vector_send(e_vec)" "pgv.halfvec_send(e_half)"; do
        cfg=$(pgv_config send img "$expression" t_send)
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg" --dry-run; expect_status 78
        expect_grep "pgvector's binary send format (a $DIM-dimensional" "$WORK/err"
        expect_grep "HINT: name the vector or halfvec column itself" "$WORK/err"
        pp fit "$(pgv_config send-fit img "$expression" t_send "clusters_from: sent")"; expect_status 78
        expect_grep "pgvector's binary send format" "$WORK/err"
        # with a pinned dimension nothing is probed: the COPY parser names it
        # (on 40 rows: db_copy_out sends a cancel request for every chunk
        # that arrives after the error, one per row here)
        sed -i -e "s/^  embedding: .*/&\n  embedding_dim: $((DIM + 1))/" \
            -e "s/^  table: img\$/  query: SELECT * FROM img ORDER BY id LIMIT 40/" \
            -e "s/clusters: 5/clusters: 2/" "$cfg"
        pp run "$cfg" --dry-run; expect_status 78
        expect_grep "pgvector's binary send format" "$WORK/err"
    done
}

test_halfvec_nan_rejected() {
    # pgvector itself refuses NaN and Inf in a halfvec or vector ...
    for value in NaN Infinity; do
        set +e
        psql -X -At -c "SELECT '[1,$value]'::pgv.halfvec" >/dev/null 2>"$WORK/psql.err"
        rc=$?
        set -e
        [ $rc -ne 0 ] || fail "pgvector accepted $value in a halfvec"
    done
    # ... so halves that are not finite reach pairpick only in a bytea,
    # where they make bad rows like NaN in a real[]
    sql "CREATE TABLE halfnan AS SELECT id, score, e_bytes FROM img WHERE blob < 2;
         UPDATE halfnan SET e_bytes = overlay(e_bytes PLACING '\\x007e'::bytea FROM 5)
          WHERE id IN ('i00005', 'i00010');
         UPDATE halfnan SET e_bytes = overlay(e_bytes PLACING '\\x00fc'::bytea FROM 1)
          WHERE id = 'i00015';" >/dev/null
    cfg=$(pgv_config halfnan halfnan e_bytes t_halfnan)
    sed -i 's/^  embedding: e_bytes$/  embedding: e_bytes\n  embedding_format: float16/; s/clusters: 5/clusters: 2/' "$cfg"
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --dry-run; expect_status 0
    expect_eq "$(json_field rows_skipped)" 3 "rows skipped"
    expect_grep "bad_embedding 3" "$WORK/err"
}

test_check_and_unreadable_types() {
    for column in e_vec:vector e_half:halfvec; do
        cfg=$(pgv_config "check-${column%%:*}" img "${column%%:*}" t_check)
        pp migrate "$cfg"; expect_status 0
        pp check "$cfg" --db; expect_status 0
        # check --db names the column's type
        expect_grep "source.embedding is of type pgv.${column#*:}" "$WORK/err"
    done
    # sparsevec is pgvector's too, but not a dense vector: named, with a cast
    cfg=$(pgv_config check-sparse img "e_vec::pgv.sparsevec" t_check)
    pp check "$cfg" --db; expect_status 78
    expect_grep "source.embedding has a type (pgv.sparsevec) pairpick cannot read" "$WORK/err"
    pp run "$cfg" --dry-run; expect_status 78
    expect_grep "pgvector's vector or halfvec" "$WORK/err"
    expect_grep "embedding: e_vec::pgv.sparsevec::vector" "$WORK/err"
}

if [ ! -e "$PGVECTOR_CONTROL" ]; then
    skip_tests "pgvector is not installed: make deps-test installs it, with PGVECTOR_SRC naming its source archive" "$@"
    exit 0
fi
start_server
make_schema
run_tests "$@"
