#!/usr/bin/env bash
# Layer checks over job/ (`make check-layers`, part of `make test`):
#
#   libpq   no file outside job/db/ includes libpq-fe.h or db/pg.h, or calls
#           a PQ* function (comments and string literals ignored)
#   cycles  no include cycle between modules: a module is a .c/.h pair under
#           job/, and module X depends on module Y when X.c or X.h includes
#           "Y.h" (a header without a .c, such as db/pg.h, is no module: its
#           includes count for the file including it); a cycle is printed
#           with the file:line of each include
#   order   a lower layer never includes a higher one, in the order
#           core < numeric < config < db < read < run < main (job/*.c|h);
#           each include that goes up is printed as file:line
#   poison  probes including <libpq-fe.h> and <yaml.h> compile with the
#           Makefile's normal flags and fail with its flags for job/core and
#           job/numeric, on the poison headers of tests/layers/poison
#   pure    the Makefile compiles every job/core and job/numeric source with
#           those same flags (make -n -B), so the probes speak for them
#
# Each check prints one ok/FAIL line (and what failed below it); the last
# line is "N passed, N failed". Exit status 1 when a check failed.
# Run from anywhere; the compiler and flags come from the Makefile
# (make print-cc, print-cflags, print-pure-cflags). MAKE and BUILD may be
# set by the caller (the make target sets both).
set -uo pipefail
cd "$(dirname "$0")/../.."

MAKE=${MAKE:-make}
BUILD=${BUILD:-build}
LAYER_ORDER="core numeric config db read run main"
passed=0 failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/pairpick-layers.XXXXXX")
trap 'rm -rf "$work"' EXIT

# result NAME DESCRIPTION DETAILS-FILE: one ok/FAIL line; the details of a
# failure (an empty file is a pass) follow it, indented.
result() {
    if [ -s "$3" ]; then
        failed=$((failed + 1))
        echo "FAIL $1: $2"
        sed 's/^/    /' "$3"
    else
        passed=$((passed + 1))
        echo "ok   $1: $2"
    fi
}

find job -name '*.[ch]' | LC_ALL=C sort >"$work/sources"

# One pass over the sources, comments blanked (line numbers kept):
#   I <TAB> file <TAB> line <TAB> " or < <TAB> target     one per #include
#   C <TAB> file <TAB> line <TAB> code                    a line calling PQ*(
# String and character literals are blanked for the PQ* search only, so
# "PQexec failed" in a message is not a call.
xargs awk '
FNR == 1 { in_comment = 0 }
{
    code = ""; bare = ""; in_literal = 0
    n = length($0)
    for (i = 1; i <= n; i++) {
        c = substr($0, i, 1); pair = substr($0, i, 2)
        if (in_comment) {
            if (pair == "*/") { in_comment = 0; i++; code = code " "; bare = bare " " }
            continue
        }
        if (in_literal) {
            code = code c
            if (c == "\\") { code = code substr($0, i + 1, 1); i++ }
            else if (c == quote) { in_literal = 0; bare = bare c }
            continue
        }
        if (pair == "/*") { in_comment = 1; i++; continue }
        if (pair == "//") break
        if (c == "\"" || c == "\047") { in_literal = 1; quote = c }
        code = code c; bare = bare c
    }
    if (match(code, /^[ \t]*#[ \t]*include[ \t]*[<"][^>"]+[>"]/)) {
        directive = substr(code, RSTART, RLENGTH)
        sub(/^[ \t]*#[ \t]*include[ \t]*/, "", directive)
        printf "I\t%s\t%d\t%s\t%s\n", FILENAME, FNR, substr(directive, 1, 1),
            substr(directive, 2, length(directive) - 2)
    } else if (match(bare, /(^|[^A-Za-z0-9_])PQ[A-Za-z]+[ \t]*\(/)) {
        sub(/^[ \t]+/, "", code)
        printf "C\t%s\t%d\t%s\n", FILENAME, FNR, code
    }
}' <"$work/sources" >"$work/facts"

# --- libpq: only job/db/ speaks to libpq.
awk -F '\t' '
$2 ~ /^job\/db\// { next }
$1 == "I" && ($5 ~ /(^|\/)libpq-fe\.h$/ || ($4 == "\"" && $5 == "db/pg.h")) {
    printf "%s:%s: includes %s\n", $2, $3, $5
}
$1 == "C" { printf "%s:%s: calls libpq: %s\n", $2, $3, $4 }
' "$work/facts" >"$work/libpq"
result libpq "libpq-fe.h, db/pg.h and PQ* calls only in job/db/" "$work/libpq"

# The module graph: for every #include "x.h" that names a header of job/
# (folder-qualified from job/, or beside the including file), an edge
# from the including module to the included one, with where it is.
awk -F '\t' '$1 == "I" && $4 == "\"" { print $2 "\t" $3 "\t" $5 }' "$work/facts" |
    while IFS=$'\t' read -r file line target; do
        if [ -f "job/$target" ]; then
            header="job/$target"
        elif [ -f "$(dirname "$file")/$target" ]; then
            header="$(dirname "$file")/$target"
        else
            continue
        fi
        from=${file#job/}; from=${from%.*}
        to=${header#job/}; to=${to%.*}
        [ "$from" = "$to" ] || printf '%s\t%s\t%s:%s\n' "$from" "$to" "$file" "$line"
    done | LC_ALL=C sort -t $'\t' -k1,1 -k2,2 >"$work/edges"

# --- cycles: depth-first search over the modules; a back edge closes a cycle.
# A module has a .c; a header without one (db/pg.h, db/migrations.h) is no
# module of its own: including it includes what it includes, so its edges
# are followed on behalf of the file that includes it.
sed -n 's|^job/\(.*\)\.c$|\1|p' "$work/sources" >"$work/modules"
awk -F '\t' '
FNR == NR { module[$1] = 1; next }
{
    raw[$1, ++raw_count[$1]] = $2
    raw_where[$1, raw_count[$1]] = $3
}
function add(from, to, place) {
    if (from == to || (from, to) in where)
        return
    where[from, to] = place
    out[from, ++out_count[from]] = to
}
# The modules header reaches for from, through headers without a .c.
function reach(from, header, place, trail,    i) {
    if (header in module) {
        add(from, header, place)
        return
    }
    if (index(" " trail " ", " " header " "))
        return
    for (i = 1; i <= raw_count[header]; i++)
        reach(from, raw[header, i], place " (through " header ".h)", trail " " header)
}
function visit(node,    i, k, next_node, line) {
    color[node] = 1
    stack[++depth] = node
    for (i = 1; i <= out_count[node]; i++) {
        next_node = out[node, i]
        if (color[next_node] == 1) {
            for (k = depth; stack[k] != next_node; k--)
                ;
            line = "cycle: "
            for (j = k; j <= depth; j++)
                line = line stack[j] " -> "
            print line next_node
            for (; k < depth; k++)
                print "    " where[stack[k], stack[k + 1]] " includes " stack[k + 1] ".h"
            print "    " where[node, next_node] " includes " next_node ".h"
        } else if (color[next_node] == 0) {
            visit(next_node)
        }
    }
    depth--
    color[node] = 2
}
END {
    for (name in module)
        for (i = 1; i <= raw_count[name]; i++)
            reach(name, raw[name, i], raw_where[name, i], "")
    # In sorted order, so the same tree prints the same cycles.
    while ((getline name < modules_file) > 0)
        if (color[name] == 0)
            visit(name)
}' "$work/modules" "$work/edges" modules_file="$work/modules" >"$work/cycles"
result cycles "no include cycle between modules" "$work/cycles"

# --- order: a module's layer is its folder under job/ (main for job/*.c|h).
awk -F '\t' -v order="$LAYER_ORDER" '
BEGIN {
    layer_count = split(order, names, " ")
    for (i = 1; i <= layer_count; i++)
        rank[names[i]] = i
}
function layer(module,    slash) {
    slash = index(module, "/")
    return slash ? substr(module, 1, slash - 1) : "main"
}
{
    from = layer($1); to = layer($2)
    if (!(from in rank)) { unknown[from] = 1; next }
    if (!(to in rank)) { unknown[to] = 1; next }
    if (rank[from] < rank[to])
        printf "%s: includes %s.h: %s is below %s\n", $3, $2, from, to
}
END {
    for (name in unknown)
        printf "job/%s/ is in no layer (order: %s)\n", name, order
}' "$work/edges" >"$work/order"
result order "lower layers never include higher ones (${LAYER_ORDER// / < })" "$work/order"

# The compiler and flags as the Makefile has them (shell words, quotes included).
make_print() { "$MAKE" --no-print-directory -s "BUILD=$BUILD" "$1"; }
cc_text=$(make_print print-cc) && normal_text=$(make_print print-cflags) &&
    pure_text=$(make_print print-pure-cflags) &&
    eval "cc=($cc_text) normal_flags=($normal_text) pure_flags=($pure_text)" ||
    { echo "cannot read the compiler flags from the Makefile (make print-cflags)" >&2; exit 1; }

# --- poison: each probe uses a type of its header, so a compile that passes
# with the normal flags went through the real header; with the pure flags
# it must stop on the poison header of the same name.
: >"$work/poison"
for header in libpq-fe.h yaml.h; do
    case $header in
    libpq-fe.h) use="PGconn *connection = 0; return connection == 0;" ;;
    yaml.h) use="yaml_parser_t parser; (void)parser; return 0;" ;;
    esac
    probe="$work/probe_${header%.h}"
    printf '#include <%s>\nint probe(void);\nint probe(void) { %s }\n' "$header" "$use" >"$probe.c"
    if ! "${cc[@]}" "${normal_flags[@]}" -c -o "$probe.o" "$probe.c" >"$probe.normal.log" 2>&1; then
        echo "<$header> does not compile with the normal flags: its poison proves nothing" \
            >>"$work/poison"
        sed 's/^/    /' "$probe.normal.log" >>"$work/poison"
    fi
    if "${cc[@]}" "${pure_flags[@]}" -c -o "$probe.o" "$probe.c" >"$probe.pure.log" 2>&1; then
        echo "<$header> compiles with the flags of job/core and job/numeric" >>"$work/poison"
    elif ! grep -q "tests/layers/poison/$header" "$probe.pure.log"; then
        echo "<$header> fails with the pure flags, but not on tests/layers/poison/$header:" \
            >>"$work/poison"
        sed 's/^/    /' "$probe.pure.log" >>"$work/poison"
    fi
done
result poison "<libpq-fe.h> and <yaml.h> compile with the normal flags, \
not with job/core's and job/numeric's" "$work/poison"

# --- pure: what make would run for each object of job/core and job/numeric
# (make -n -B: printed, not run) uses the flags the probes failed with.
grep -E '^job/(core|numeric)/[^/]+\.c$' "$work/sources" |
    sed "s|^\(.*\)\.c\$|$BUILD/\1.o|" >"$work/pure_objects"
: >"$work/pure"
if ! xargs "$MAKE" --no-print-directory -n -B "BUILD=$BUILD" <"$work/pure_objects" \
    >"$work/pure_commands" 2>&1; then
    echo "make -n -B failed:" >>"$work/pure"
    sed 's/^/    /' "$work/pure_commands" >>"$work/pure"
else
    while read -r object; do
        command=$(grep -F -- "-o $object " "$work/pure_commands" || true)
        if [ -z "$command" ]; then
            echo "$object: no compile command from make -n -B" >>"$work/pure"
        elif ! printf '%s\n' "$command" | grep -q -F -- " $pure_text -c "; then
            echo "$object: not compiled with the pure flags: $command" >>"$work/pure"
        fi
    done <"$work/pure_objects"
fi
result pure "every job/core and job/numeric source compiles with those flags" "$work/pure"

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
