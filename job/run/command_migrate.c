#include "run/command_migrate.h"

#include <stdio.h>

#include "core/error.h"
#include "core/log.h"
#include "db/db.h"
#include "db/migrate.h"
#include "run/run.h"

int command_migrate(const JobConfig *config)
{
    Error err;
    Db *db = NULL;
    int applied = 0;
    error_clear(&err);
    int code = run_connect(config, &db, &err);
    if (code == ERR_OK)
        code = migrate_apply(db, config->output.table, &applied, &err);
    db_close(db);
    if (code != ERR_OK) {
        log_line("error", NULL, NULL, "%s", err.message);
        return code;
    }
    fprintf(stderr, "pairpick: %d migration%s applied%s\n", applied, applied == 1 ? "" : "s",
            applied == 0 ? " (up to date)" : "");
    printf("{\"command\":\"migrate\",\"applied\":%d}\n", applied);
    return ERR_OK;
}
