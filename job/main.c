/*
 * main: the process. Parses the command line (cli), sets up logging and
 * the cancel handler, loads the config, executes the command, and is the
 * one place where an error code becomes the process exit status
 * (sysexits.h; see README.md).
 */
#include "cli.h"
#include "config/config.h"
#include "core/cancel.h"
#include "core/error.h"
#include "core/log.h"

int main(int argc, char **argv)
{
    CliArgs args;
    int code = cli_parse(argc, argv, &args);
    if (code != ERR_OK || args.command == NULL)
        return code;

    log_setup(args.log_format, args.log_level, NULL);
    cancel_install();
    JobConfig *config = NULL;
    Error err;
    error_clear(&err);
    if (config_load(args.config_path, &config, &err) != ERR_OK) {
        log_line("error", NULL, NULL, "%s", err.message);
        return err.code != ERR_OK ? err.code : ERR_INTERNAL;
    }
    log_setup(args.log_format, args.log_level, config->job);
    code = cli_execute(&args, config);
    config_free(config);
    return code;
}
