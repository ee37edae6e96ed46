/*
 * cancel: SIGINT and SIGTERM. The handler records the signal and calls the
 * hook the database layer set (it asks the server to cancel the statement
 * in flight), so a run stops within moments, rolls back and exits 75. Code
 * between statements polls cancel_requested() at stage boundaries.
 *
 * It knows nothing of libpq: the hook is how job/db takes part. main
 * installs the handlers once.
 */
#ifndef PAIRPICK_CANCEL_H
#define PAIRPICK_CANCEL_H

#include <stdbool.h>

/* Runs inside the signal handler: async-signal-safe calls only. */
typedef void (*CancelHook)(void);

/* Installs the SIGINT/SIGTERM handlers. */
void cancel_install(void);

/* The hook the handler calls after recording the signal (NULL: none). */
void cancel_set_hook(CancelHook hook);

/*
 * Blocks SIGINT and SIGTERM until cancel_unblock, so the hook's state can be
 * swapped without the handler seeing it half-changed.
 */
void cancel_block(void);
void cancel_unblock(void);

/* Whether a signal arrived, and which (0 when none). */
bool cancel_requested(void);
int cancel_signal(void);

#endif
