#!/usr/bin/env bash
# The command line of the real binary: each command's --help, and the one
# form of a usage error. Nothing here reaches a config file or a database,
# so this suite starts no server. Usage: cli.sh [test_name ...]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
trap 'rm -rf "$WORK"' EXIT

COMMANDS="migrate run status check explain sample fit models"
ALL_OPTIONS="--run-id --seed --dry-run --max-pairs --as-of --wait-lock --skip-exit-code
    --xcom-file --rejects --labels-file --metrics-file --pairs-file --out --per-category --copy
    --db --limit --json"
COMMON_OPTIONS="--log-format --quiet --verbose --help"

own_options() { # command
    case $1 in
    run) echo "--run-id --seed --dry-run --max-pairs --as-of --wait-lock --skip-exit-code
        --xcom-file --rejects --labels-file --metrics-file --pairs-file" ;;
    fit) echo "--seed --as-of" ;;
    sample) echo "--out --per-category --copy --seed" ;;
    status) echo "--limit --json" ;;
    check) echo "--db" ;;
    models) echo "--json" ;;
    esac
}

# The options a command cannot run without.
required() { # command
    [ "$1" != sample ] || echo "--out $WORK/sheet"
}

# A usage error is exactly two lines on stderr, nothing on stdout, exit 64.
expect_usage_error() { # command first-line
    expect_status 64
    [ ! -s "$WORK/out" ] || fail "a usage error prints nothing on stdout"
    expect_eq "$(sed -n 1p "$WORK/err")" "$2" "the message"
    expect_eq "$(sed -n 2p "$WORK/err")" "Try \"pairpick $1 --help\" for more information." "the hint"
    expect_eq "$(wc -l <"$WORK/err")" 2 "lines on stderr"
}

test_each_command_help_lists_its_own_options_only() {
    for command in $COMMANDS; do
        pp "$command" --help; expect_status 0
        [ ! -s "$WORK/err" ] || fail "$command --help printed on stderr"
        expect_grep "^Usage:" "$WORK/out"
        expect_grep "^  pairpick $command CONFIG" "$WORK/out"
        own=" $(own_options "$command" | tr -s ' \n' ' ') "
        for option in $ALL_OPTIONS; do
            if [[ "$own" == *" $option "* ]]; then
                grep -qE -- "^  $option( |$)" "$WORK/out" || fail "$command --help lacks $option"
            else
                ! grep -qE -- "$option([^a-z-]|$)" "$WORK/out" || fail "$command --help shows $option"
            fi
        done
        for option in $COMMON_OPTIONS; do
            grep -qE -- "$option( |$)" "$WORK/out" || fail "$command --help lacks $option"
        done
    done
}

test_help_shows_integer_defaults() {
    pp sample --help; expect_grep "--per-category N .*(default: 5)" "$WORK/out"
    pp status --help; expect_grep "--limit N .*(default: 20)" "$WORK/out"
}

test_help_anywhere_on_the_line_wins() {
    pp run x.yaml -h; expect_status 0; expect_grep "^  pairpick run CONFIG" "$WORK/out"
    pp fit --seed 3 x.yaml --help; expect_status 0; expect_grep "^  pairpick fit CONFIG" "$WORK/out"
}

test_top_help_lists_every_command() {
    pp --help; expect_status 0
    for command in $COMMANDS; do
        grep -qE "^  $command " "$WORK/out" || fail "pairpick --help lacks $command"
    done
    pp --version; expect_status 0; expect_grep "^pairpick [0-9]" "$WORK/out"
}

test_unknown_option_has_one_form() {
    for command in $COMMANDS; do
        pp "$command" x.yaml --frobnicate
        expect_usage_error "$command" "pairpick $command: unknown option \"--frobnicate\""
    done
    pp --frobnicate
    expect_status 64; expect_eq "$(sed -n 1p "$WORK/err")" 'pairpick: unknown option "--frobnicate"' "top level"
}

test_missing_value_and_other_commands_options() {
    pp run x.yaml --max-pairs
    expect_usage_error run 'pairpick run: option "--max-pairs" needs a value'
    pp check x.yaml --dry-run
    expect_usage_error check 'pairpick check: option "--dry-run" does not apply to this command'
    pp run x.yaml --dry-run=yes
    expect_usage_error run 'pairpick run: option "--dry-run" takes no value'
    pp sample x.yaml
    expect_usage_error sample 'pairpick sample: --out DIR is required'
    pp status
    expect_usage_error status 'pairpick status: missing CONFIG argument'
}

test_bad_integer_has_one_form() {
    while read -r command value option range; do
        pp "$command" x.yaml $(required "$command") "--$option" "$value"
        expect_usage_error "$command" \
            "pairpick $command: invalid value \"$value\" for option --$option: expected an integer from $range"
    done <<'CASES'
run 0 max-pairs 1 to 9223372036854775807
run abc max-pairs 1 to 9223372036854775807
run 99999999999999999999999 max-pairs 1 to 9223372036854775807
run 9223372036854775808 max-pairs 1 to 9223372036854775807
run -1 seed 0 to 9007199254740991
run 9007199254740992 seed 0 to 9007199254740991
run 256 skip-exit-code 0 to 255
fit 1.5 seed 0 to 9007199254740991
sample 10001 per-category 1 to 10000
sample 0 per-category 1 to 10000
status 0 limit 1 to 2147483647
status 2147483648 limit 1 to 2147483647
CASES
}

# In range, the line parses and the config is read next: a missing file
# is a configuration error (78), not a usage error.
test_integer_bounds_are_accepted() {
    while read -r command option value; do
        pp "$command" "$WORK/none.yaml" $(required "$command") "--$option" "$value"
        expect_status 78
    done <<'CASES'
run max-pairs 1
run max-pairs 9223372036854775807
run seed 9007199254740991
run skip-exit-code 0
run skip-exit-code 255
sample per-category 10000
status limit 2147483647
CASES
}

run_tests "$@"
