/*
 * cli: the command line. One table of commands and one of options (name,
 * argument, range, default, help); each command lists the options it
 * takes, and cli_parse builds that command's long_options[] for
 * getopt_long from it, so parsing, range checks and `--help` come from the
 * same table. Usage errors print one form on stderr:
 *
 *   pairpick run: invalid value "0" for option --max-pairs: expected ...
 *   Try "pairpick run --help" for more information.
 *
 * It does not load the config, set up logging or map errors to exit codes
 * beyond usage (main does). CliArgs points into argv; nothing here
 * allocates.
 */
#ifndef PAIRPICK_CLI_H
#define PAIRPICK_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/log.h"
#include "run/command_check.h"
#include "run/command_models.h"
#include "run/command_run.h"
#include "run/command_status.h"
#include "run/run.h"
#include "run/sample.h"

typedef struct CliCommand CliCommand;

/* A parsed command line: the command, its CONFIG and every option's value. */
typedef struct CliArgs {
    const CliCommand *command; /* NULL: nothing to execute (help or version printed) */
    const char *config_path;
    LogFormat log_format;
    LogLevel log_level;
    RunOptions run;        /* run, sample and fit */
    RunOutputs outputs;    /* run */
    SampleOptions sample;  /* sample */
    StatusOptions status;  /* status */
    CheckOptions check;    /* check */
    ModelsOptions models;  /* models */
} CliArgs;

/*
 * Parses argv into args. Returns ERR_OK with args->command set when there
 * is a command to execute, ERR_OK with it NULL after printing help or the
 * version on stdout, or ERR_USAGE after printing the usage error on stderr.
 */
int cli_parse(int argc, char **argv, CliArgs *args);

/* Runs the parsed command on the loaded config; returns its exit status. */
int cli_execute(const CliArgs *args, const JobConfig *config);

/*
 * The one integer-option parser: a decimal integer in [minimum, maximum],
 * nothing before or after it but leading blanks, no sign. Returns false
 * (and leaves *value alone) for anything else, overflow included.
 */
bool cli_parse_integer(const char *text, uint64_t minimum, uint64_t maximum, uint64_t *value);

#endif
