#include "run/command_explain.h"

#include <stdio.h>

#include "core/error.h"
#include "core/log.h"
#include "db/ident.h"
#include "read/plan.h"

int command_explain(const JobConfig *config)
{
    Error err;
    Plan plan;
    error_clear(&err);
    int code = plan_build(config, ident_quote_offline, NULL, NULL, &plan, &err);
    if (code != ERR_OK) {
        log_line("error", NULL, NULL, "%s", err.message);
        return code;
    }
    printf("%s;\n", plan.select_sql);
    for (int i = 0; i < plan.param_count; i++)
        printf("-- $%d = '%s'  (%s)\n", i + 1, plan.params[i], plan.param_names[i]);
    printf("-- streamed with: COPY (...) TO STDOUT (FORMAT binary)\n");
    plan_release(&plan);
    return ERR_OK;
}
