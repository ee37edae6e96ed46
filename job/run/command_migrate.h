/*
 * command_migrate: `pairpick migrate CONFIG`. Connects, applies the
 * migrations the config's output table lacks (db/migrate), and prints how
 * many ran: a line on stderr, one JSON line on stdout.
 *
 * It does not load the config (main does) and owns nothing it returns.
 */
#ifndef PAIRPICK_COMMAND_MIGRATE_H
#define PAIRPICK_COMMAND_MIGRATE_H

#include "config/config.h"

/* Returns the exit status; a failure is logged here. */
int command_migrate(const JobConfig *config);

#endif
