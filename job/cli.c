#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/rng.h"
#include "run/command_check.h"
#include "run/command_explain.h"
#include "run/command_fit.h"
#include "run/command_migrate.h"
#include "run/command_models.h"
#include "run/command_run.h"
#include "run/command_sample.h"
#include "run/command_status.h"

/* getopt_long's values for the long options; above any character. */
typedef enum {
    OPT_END = 0, /* ends a command's option list */
    OPT_RUN_ID = 256,
    OPT_SEED,
    OPT_DRY_RUN,
    OPT_MAX_PAIRS,
    OPT_AS_OF,
    OPT_WAIT_LOCK,
    OPT_SKIP_EXIT_CODE,
    OPT_XCOM_FILE,
    OPT_REJECTS,
    OPT_LABELS_FILE,
    OPT_METRICS_FILE,
    OPT_PAIRS_FILE,
    OPT_OUT,
    OPT_PER_CATEGORY,
    OPT_COPY,
    OPT_DB,
    OPT_LIMIT,
    OPT_JSON,
    OPT_LOG_FORMAT,
    OPT_QUIET,
    OPT_VERBOSE,
    OPT_HELP,
} OptionId;

typedef enum {
    OPTION_FLAG,    /* no argument */
    OPTION_TEXT,    /* an argument, checked (if at all) where it is stored */
    OPTION_INTEGER, /* an argument, range-checked by cli_parse_integer */
} OptionKind;

typedef struct OptionSpec {
    OptionId id;
    const char *name;
    OptionKind kind;
    const char *argument;      /* its name in the help ("N", "PATH") */
    uint64_t minimum, maximum; /* integer options */
    const char *initial;       /* stored before argv is read, shown as the default */
    const char *default_text;  /* the default where it is not a fixed value */
    const char *help;
} OptionSpec;

static const OptionSpec option_specs[] = {
    {OPT_RUN_ID, "run-id", OPTION_TEXT, "ID", .default_text = "a new UUID",
     .help = "the run's id; a succeeded id is not run twice"},
    {OPT_SEED, "seed", OPTION_INTEGER, "N", 0, RNG_SEED_MAX,
     .default_text = "strategy.seed, else random",
     .help = "random seed, always recorded"},
    {OPT_DRY_RUN, "dry-run", OPTION_FLAG, NULL,
     .help = "choose pairs and print them on stderr; write nothing"},
    /* pairs_requested is a bigint. */
    {OPT_MAX_PAIRS, "max-pairs", OPTION_INTEGER, "N", 1, INT64_MAX,
     .default_text = "strategy.max_pairs", .help = "how many pairs to choose"},
    {OPT_AS_OF, "as-of", OPTION_TEXT, "TIME", .default_text = "the database's now()",
     .help = "the \"now\" of relative date filters (Airflow: {{ data_interval_end }})"},
    {OPT_WAIT_LOCK, "wait-lock", OPTION_TEXT, "DUR", .default_text = "0, do not wait",
     .help = "wait up to DUR (e.g. 10min) for another run of the job to finish"},
    {OPT_SKIP_EXIT_CODE, "skip-exit-code", OPTION_INTEGER, "N", 0, 255,
     .default_text = "none",
     .help = "exit N instead of 75 when the job is locked, and instead of 0 when there was "
             "nothing to do (Airflow's skip_on_exit_code)"},
    {OPT_XCOM_FILE, "xcom-file", OPTION_TEXT, "PATH",
     .help = "also write the JSON summary to PATH (even on failure)"},
    {OPT_REJECTS, "rejects", OPTION_TEXT, "PATH",
     .help = "write the skipped rows as CSV (id,reason)"},
    {OPT_LABELS_FILE, "labels-file", OPTION_TEXT, "PATH",
     .help = "write each selected image's category as CSV (id,label)"},
    {OPT_METRICS_FILE, "metrics-file", OPTION_TEXT, "PATH",
     .help = "Prometheus text format for node_exporter's textfile collector"},
    {OPT_PAIRS_FILE, "pairs-file", OPTION_TEXT, "PATH",
     .help = "with --dry-run: write the chosen pairs to PATH as CSV instead of the log"},
    {OPT_OUT, "out", OPTION_TEXT, "DIR",
     .help = "the folder for the category folders and index.html (required)"},
    {OPT_PER_CATEGORY, "per-category", OPTION_INTEGER, "N", 1, 10000, .initial = "5",
     .help = "images sampled from each category"},
    {OPT_COPY, "copy", OPTION_FLAG, NULL,
     .help = "copy the image files instead of symlinking them"},
    {OPT_DB, "db", OPTION_FLAG, NULL,
     .help = "also check the database: migrations, the source query, privileges, the embedding "
             "column and the stored model"},
    {OPT_LIMIT, "limit", OPTION_INTEGER, "N", 1, INT_MAX, .initial = "20",
     .help = "how many runs to show, newest first"},
    {OPT_JSON, "json", OPTION_FLAG, NULL,
     .help = "one JSON object per line on stdout (one per row) instead of the table"},
    {OPT_LOG_FORMAT, "log-format", OPTION_TEXT, "text|json", .default_text = "text",
     .help = "human lines or one JSON object per line"},
    {OPT_QUIET, "quiet", OPTION_FLAG, NULL, .help = "errors only"},
    {OPT_VERBOSE, "verbose", OPTION_FLAG, NULL, .help = "also debug lines"},
    {OPT_HELP, "help", OPTION_FLAG, NULL, .help = "show this help, then exit"},
};

/* The options every command takes, after its own. */
static const OptionId common_options[] = {OPT_LOG_FORMAT, OPT_QUIET, OPT_VERBOSE, OPT_HELP,
                                          OPT_END};

#define COMMAND_OPTIONS_MAX 16

struct CliCommand {
    const char *name;
    const char *synopsis; /* what follows "pairpick NAME" */
    const char *summary;
    OptionId options[COMMAND_OPTIONS_MAX]; /* its own options, OPT_END-terminated */
    OptionId required;                     /* an option it cannot run without; OPT_END: none */
    int (*execute)(const CliArgs *args, const JobConfig *config);
};

static int execute_migrate(const CliArgs *args, const JobConfig *config)
{
    (void)args;
    return command_migrate(config);
}

static int execute_run(const CliArgs *args, const JobConfig *config)
{
    return command_run(config, &args->run, &args->outputs);
}

static int execute_status(const CliArgs *args, const JobConfig *config)
{
    return command_status(config, &args->status);
}

static int execute_check(const CliArgs *args, const JobConfig *config)
{
    return command_check(config, &args->check);
}

static int execute_explain(const CliArgs *args, const JobConfig *config)
{
    (void)args;
    return command_explain(config);
}

static int execute_sample(const CliArgs *args, const JobConfig *config)
{
    return command_sample(config, &args->run, &args->sample);
}

static int execute_fit(const CliArgs *args, const JobConfig *config)
{
    return command_fit(config, &args->run);
}

static int execute_models(const CliArgs *args, const JobConfig *config)
{
    return command_models(config, &args->models);
}

static const CliCommand commands[] = {
    {.name = "migrate", .synopsis = "CONFIG",
     .summary = "create or upgrade pairpick's own tables", .options = {OPT_END},
     .execute = execute_migrate},
    {.name = "run", .synopsis = "CONFIG [OPTIONS]",
     .summary = "choose pairs and add them to the pending table",
     .options = {OPT_RUN_ID, OPT_SEED, OPT_DRY_RUN, OPT_MAX_PAIRS, OPT_AS_OF, OPT_WAIT_LOCK,
                 OPT_SKIP_EXIT_CODE, OPT_XCOM_FILE, OPT_REJECTS, OPT_LABELS_FILE,
                 OPT_METRICS_FILE, OPT_PAIRS_FILE, OPT_END},
     .execute = execute_run},
    {.name = "status", .synopsis = "CONFIG [--limit N] [--json]", .summary = "the job's last runs",
     .options = {OPT_LIMIT, OPT_JSON, OPT_END}, .execute = execute_status},
    {.name = "check", .synopsis = "CONFIG [--db]",
     .summary = "validate the config (and, with --db, the database)",
     .options = {OPT_DB, OPT_END}, .execute = execute_check},
    {.name = "explain", .synopsis = "CONFIG",
     .summary = "print the SQL a run would execute, with parameters", .options = {OPT_END},
     .execute = execute_explain},
    {.name = "sample", .synopsis = "CONFIG --out DIR [--per-category N] [--copy] [--seed N]",
     .summary = "per-category folders of sample images and DIR/index.html",
     .options = {OPT_OUT, OPT_PER_CATEGORY, OPT_COPY, OPT_SEED, OPT_END}, .required = OPT_OUT,
     .execute = execute_sample},
    {.name = "fit", .synopsis = "CONFIG [--seed N] [--as-of TIME]",
     .summary = "fit k-means (and PCA) once, store it as the next version of the "
                "strategy.clusters_from model",
     .options = {OPT_SEED, OPT_AS_OF, OPT_END}, .execute = execute_fit},
    {.name = "models", .synopsis = "CONFIG [--json]",
     .summary = "the stored versions of the config's model", .options = {OPT_JSON, OPT_END},
     .execute = execute_models},
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])
#define OPTION_SPEC_COUNT (sizeof option_specs / sizeof option_specs[0])

static const char intro_text[] =
    "pairpick picks candidate pairs of images for human preference annotation.\n";

static const char outcome_text[] =
    "Output: a human log on stderr, one JSON summary line on stdout.\n"
    "Exit codes: 0 done, 64 usage, 65 bad data, 69 database unreachable,\n"
    "70 internal error, 74 an output could not be written, 75 try again later,\n"
    "78 bad configuration.\n";

#define HELP_WIDTH 79
#define HELP_COLUMN 26

static const OptionSpec *spec_of(OptionId id)
{
    for (size_t i = 0; i < OPTION_SPEC_COUNT; i++)
        if (option_specs[i].id == id)
            return &option_specs[i];
    return NULL;
}

static const OptionSpec *spec_named(const char *name, size_t length)
{
    for (size_t i = 0; i < OPTION_SPEC_COUNT; i++)
        if (strlen(option_specs[i].name) == length
            && strncmp(option_specs[i].name, name, length) == 0)
            return &option_specs[i];
    return NULL;
}

/* Prints text from column `at`, wrapped at HELP_WIDTH, continued at `indent`. */
static void print_wrapped(const char *text, int at, int indent)
{
    bool first = true;
    for (const char *word = text + strspn(text, " "); *word != '\0';) {
        int length = (int)strcspn(word, " ");
        if (!first && at + 1 + length > HELP_WIDTH) {
            printf("\n%*s", indent, "");
            at = indent;
        } else if (!first) {
            putchar(' ');
            at++;
        }
        printf("%.*s", length, word);
        at += length;
        first = false;
        word += length;
        word += strspn(word, " ");
    }
    putchar('\n');
}

/* "  --name ARG" and its help with the default, the help from HELP_COLUMN. */
static void print_option(const OptionSpec *spec)
{
    char label[64], help[512];
    snprintf(label, sizeof label, "  %s--%s%s%s", spec->id == OPT_HELP ? "-h, " : "", spec->name,
             spec->argument != NULL ? " " : "", spec->argument != NULL ? spec->argument : "");
    const char *fallback = spec->initial != NULL ? spec->initial : spec->default_text;
    snprintf(help, sizeof help, "%s%s%s%s", spec->help, fallback != NULL ? " (default: " : "",
             fallback != NULL ? fallback : "", fallback != NULL ? ")" : "");
    int at = printf("%s", label);
    if (at + 2 > HELP_COLUMN) {
        printf("\n");
        at = 0;
    }
    printf("%*s", HELP_COLUMN - at, "");
    print_wrapped(help, HELP_COLUMN, HELP_COLUMN);
}

static void print_options(const char *title, const OptionId *ids)
{
    if (ids[0] == OPT_END)
        return;
    printf("\n%s\n", title);
    for (const OptionId *id = ids; *id != OPT_END; id++)
        print_option(spec_of(*id));
}

/* `pairpick --help`: the commands, the common options, outputs, exit codes. */
static void print_help(void)
{
    printf("%s\nUsage:\n"
           "  pairpick COMMAND CONFIG [OPTIONS]\n"
           "  pairpick COMMAND --help             the command's synopsis and options\n"
           "  pairpick --help | --version\n"
           "\nCommands:\n",
           intro_text);
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        printf("  %-10s", commands[i].name);
        print_wrapped(commands[i].summary, 12, 12);
    }
    print_options("Options of all commands:", common_options);
    printf("\n%s", outcome_text);
}

/* `pairpick COMMAND --help`: its synopsis and only its options. */
static void print_command_help(const CliCommand *command)
{
    printf("pairpick %s: ", command->name);
    print_wrapped(command->summary, 11 + (int)strlen(command->name), 2);
    printf("\nUsage:\n  pairpick %s %s\n", command->name, command->synopsis);
    print_options("Options:", command->options);
    print_options("Options of all commands:", common_options);
}

/* The one form of a usage error: what is wrong, then where help is. */
static int usage_error(const CliCommand *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const CliCommand *command, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "pairpick%s%s: ", command != NULL ? " " : "",
            command != NULL ? command->name : "");
    vfprintf(stderr, fmt, args);
    va_end(args);
    fprintf(stderr, "\nTry \"pairpick%s%s --help\" for more information.\n",
            command != NULL ? " " : "", command != NULL ? command->name : "");
    return ERR_USAGE;
}

static int invalid_value(const CliCommand *command, const OptionSpec *spec, const char *text,
                         const char *expected)
{
    return usage_error(command, "invalid value \"%s\" for option --%s: expected %s", text,
                       spec->name, expected);
}

bool cli_parse_integer(const char *text, uint64_t minimum, uint64_t maximum, uint64_t *value)
{
    /* strtoull would take "-1" as its two's complement. */
    if (text[0] == '\0' || strchr(text, '-') != NULL)
        return false;
    char *end;
    errno = 0;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || parsed < minimum || parsed > maximum)
        return false;
    *value = parsed;
    return true;
}

/*
 * Whether an --as-of text holds one of PostgreSQL's relative date words
 * (now, today, tomorrow, yesterday, in any case, alone or with a time):
 * such a "now" moves, so a retry would read another window.
 */
static bool as_of_is_relative(const char *text)
{
    static const char *const relative[] = {"now", "today", "tomorrow", "yesterday"};
    const char *c = text;
    while (*c != '\0') {
        while (*c != '\0' && !isalpha((unsigned char)*c))
            c++;
        const char *start = c;
        while (isalpha((unsigned char)*c))
            c++;
        for (size_t i = 0; i < sizeof relative / sizeof relative[0]; i++)
            if ((size_t)(c - start) == strlen(relative[i])
                && strncasecmp(start, relative[i], strlen(relative[i])) == 0)
                return true;
    }
    return false;
}

/*
 * Stores an option's value in args. Returns what a valid value looks like
 * when text is not one (for the message), else NULL.
 */
static const char *store_option(CliArgs *args, OptionId id, const char *text, uint64_t number)
{
    switch (id) {
    case OPT_RUN_ID:
        if (text[0] == '\0' || strlen(text) > 120)
            return "1 to 120 characters";
        args->run.run_id = text;
        break;
    case OPT_SEED:
        args->run.seed = number;
        args->run.seed_set = true;
        break;
    case OPT_DRY_RUN: args->run.dry_run = true; break;
    case OPT_MAX_PAIRS:
        args->run.max_pairs = number;
        args->run.max_pairs_set = true;
        break;
    case OPT_AS_OF:
        if (as_of_is_relative(text))
            return "a fixed timestamp such as 2026-11-28T00:00:00Z, not a relative word "
                   "(now, today, tomorrow, yesterday): a retry must read the same window";
        args->run.as_of = text;
        break;
    case OPT_WAIT_LOCK:
        if (!config_parse_duration(text, &args->run.wait_lock_ms))
            return "a duration such as 30s or 10min";
        break;
    case OPT_SKIP_EXIT_CODE: args->outputs.skip_exit_code = (int)number; break;
    case OPT_XCOM_FILE: args->outputs.xcom_path = text; break;
    case OPT_REJECTS: args->run.rejects_path = text; break;
    case OPT_LABELS_FILE: args->run.labels_path = text; break;
    case OPT_METRICS_FILE: args->outputs.metrics_path = text; break;
    case OPT_PAIRS_FILE: args->run.pairs_path = text; break;
    case OPT_OUT: args->sample.out_dir = text; break;
    case OPT_PER_CATEGORY: args->sample.per_category = (int)number; break;
    case OPT_COPY: args->sample.copy = true; break;
    case OPT_DB: args->check.with_db = true; break;
    case OPT_LIMIT: args->status.limit = number; break;
    case OPT_JSON:
        args->models.json = true;
        args->status.json = true;
        break;
    case OPT_LOG_FORMAT:
        if (strcmp(text, "json") == 0)
            args->log_format = LOG_JSON;
        else if (strcmp(text, "text") == 0)
            args->log_format = LOG_TEXT;
        else
            return "text or json";
        break;
    case OPT_QUIET: args->log_level = LOG_QUIET; break;
    case OPT_VERBOSE: args->log_level = LOG_VERBOSE; break;
    case OPT_HELP:
    case OPT_END: break;
    }
    return NULL;
}

/* Checks and stores one option's argument; ERR_USAGE after the message. */
static int apply_option(const CliCommand *command, const OptionSpec *spec, const char *text,
                        CliArgs *args)
{
    uint64_t number = 0;
    char expected[96];
    if (spec->kind == OPTION_INTEGER && !cli_parse_integer(text, spec->minimum, spec->maximum,
                                                           &number)) {
        snprintf(expected, sizeof expected, "an integer from %" PRIu64 " to %" PRIu64,
                 spec->minimum, spec->maximum);
        return invalid_value(command, spec, text, expected);
    }
    const char *wanted = store_option(args, spec->id, text, number);
    return wanted != NULL ? invalid_value(command, spec, text, wanted) : ERR_OK;
}

static size_t add_long_options(struct option *long_options, size_t count, const OptionId *ids)
{
    for (const OptionId *id = ids; *id != OPT_END; id++) {
        const OptionSpec *spec = spec_of(*id);
        long_options[count++] = (struct option){
            spec->name, spec->kind == OPTION_FLAG ? no_argument : required_argument, NULL,
            (int)spec->id};
    }
    return count;
}

/* The defaults that are values: stored as if given, through the same checks. */
static void init_args(const CliCommand *command, CliArgs *args)
{
    memset(args, 0, sizeof *args);
    args->command = command;
    args->log_format = LOG_TEXT;
    args->log_level = LOG_NORMAL;
    args->outputs.skip_exit_code = -1;
    for (size_t i = 0; i < OPTION_SPEC_COUNT; i++)
        if (option_specs[i].initial != NULL)
            apply_option(command, &option_specs[i], option_specs[i].initial, args);
}

static bool takes_option(const CliCommand *command, OptionId id)
{
    for (const OptionId *own = command->options; *own != OPT_END; own++)
        if (*own == id)
            return true;
    for (const OptionId *common = common_options; *common != OPT_END; common++)
        if (*common == id)
            return true;
    return false;
}

/*
 * What getopt_long refused: a flag given a value, another command's
 * option, or no option at all.
 */
static int refused_option(const CliCommand *command, const char *word)
{
    const char *name = word + 2;
    const OptionSpec *spec = strncmp(word, "--", 2) == 0 ? spec_named(name, strcspn(name, "="))
                                                          : NULL;
    if (spec != NULL && takes_option(command, spec->id))
        return usage_error(command, "option \"--%s\" takes no value", spec->name);
    if (spec != NULL)
        return usage_error(command, "option \"%s\" does not apply to this command", word);
    return usage_error(command, "unknown option \"%s\"", word);
}

/* The command's options and its CONFIG: argv past the command's name. */
static int parse_command(const CliCommand *command, int argc, char **argv, CliArgs *args)
{
    struct option long_options[COMMAND_OPTIONS_MAX + 8];
    size_t count = add_long_options(long_options, 0, command->options);
    count = add_long_options(long_options, count, common_options);
    long_options[count] = (struct option){NULL, 0, NULL, 0};

    /* argv[0] is the command's name, as a program's own name is to getopt. */
    optind = 0;
    opterr = 0;
    bool required_given = command->required == OPT_END;
    int option;
    while ((option = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        if (option == 'h' || option == OPT_HELP) {
            print_command_help(command);
            args->command = NULL;
            return ERR_OK;
        }
        if (option == ':')
            return usage_error(command, "option \"%s\" needs a value", argv[optind - 1]);
        if (option == '?')
            return refused_option(command, argv[optind - 1]);
        int code = apply_option(command, spec_of((OptionId)option), optarg, args);
        if (code != ERR_OK)
            return code;
        required_given |= option == (int)command->required;
    }
    if (optind >= argc)
        return usage_error(command, "missing CONFIG argument");
    if (optind + 1 < argc)
        return usage_error(command, "unexpected argument \"%s\"", argv[optind + 1]);
    if (!required_given) {
        const OptionSpec *spec = spec_of(command->required);
        return usage_error(command, "--%s %s is required", spec->name, spec->argument);
    }
    if (args->run.pairs_path != NULL && !args->run.dry_run)
        return usage_error(command, "--pairs-file needs --dry-run");
    args->config_path = argv[optind];
    return ERR_OK;
}

/* `pairpick --help`, `pairpick --version`, or an unknown option. */
static int parse_top(int argc, char **argv)
{
    static const struct option top_options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    optind = 0;
    opterr = 0;
    int option = getopt_long(argc, argv, "+hV", top_options, NULL);
    if (option == 'h') {
        print_help();
        return ERR_OK;
    }
    if (option == 'V') {
        printf("pairpick %s\n", PAIRPICK_VERSION);
        return ERR_OK;
    }
    return usage_error(NULL, "unknown option \"%s\"", argv[1]);
}

int cli_parse(int argc, char **argv, CliArgs *args)
{
    init_args(NULL, args);
    if (argc < 2)
        return usage_error(NULL, "no command given");
    if (argv[1][0] == '-')
        return parse_top(argc, argv);
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            init_args(&commands[i], args);
            return parse_command(&commands[i], argc - 1, argv + 1, args);
        }
    }
    return usage_error(NULL, "unknown command \"%s\"", argv[1]);
}

int cli_execute(const CliArgs *args, const JobConfig *config)
{
    return args->command->execute(args, config);
}
