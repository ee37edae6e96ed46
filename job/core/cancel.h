/*
 * cancel: the signals that stop a run. SIGINT, SIGTERM and SIGHUP (a
 * closed terminal or a scheduler's stop) record the signal and call the
 * hook the database layer set (it asks the server to cancel the statement
 * in flight), so a run stops within moments, rolls back and exits 75.
 * Code between statements polls cancel_requested() at stage boundaries;
 * long computations (numeric included: cancel_requested is a plain read of
 * a sig_atomic_t) poll cancel_check every few thousand steps.
 *
 * A server that does not answer (a stopped backend) cannot hold the
 * client: CANCEL_ABORT_SECONDS after the signal every socket of the process
 * is shut down, so a read waiting on the server returns an error; a process
 * still alive CANCEL_EXIT_SECONDS after the signal writes a line on stderr
 * and exits 75 at once.
 *
 * SIGPIPE is ignored: a write to a closed pipe fails with EPIPE, which the
 * writer reports as a write error (core/log, the JSON summary).
 *
 * It knows nothing of libpq: the hook is how job/db takes part. main
 * installs the handlers once.
 */
#ifndef PAIRPICK_CANCEL_H
#define PAIRPICK_CANCEL_H

#include <stdbool.h>

#include "core/error.h"

/* Seconds from the first signal to shutting down sockets, and to exiting. */
#define CANCEL_ABORT_SECONDS 3
#define CANCEL_EXIT_SECONDS 10

/*
 * Steps of a long loop between two cancel_check calls, for loops whose
 * steps are too small to poll each (a step of a few nanoseconds: a poll
 * every CANCEL_POLL_STEPS costs nothing measurable and comes within
 * microseconds). Loops whose steps are tiles of rows poll once a tile.
 */
#define CANCEL_POLL_STEPS 4096

/* Runs inside the signal handler: async-signal-safe calls only. */
typedef void (*CancelHook)(void);

/* Installs the SIGINT/SIGTERM/SIGHUP handlers and the watchdog, ignores
 * SIGPIPE, then unblocks the three (they may arrive blocked across exec). */
void cancel_install(void);

/* The hook the handler calls after recording the signal (NULL: none). */
void cancel_set_hook(CancelHook hook);

/*
 * Blocks SIGINT, SIGTERM and SIGHUP until cancel_unblock, so the hook's
 * state can be swapped without the handler seeing it half-changed.
 */
void cancel_block(void);
void cancel_unblock(void);

/* Whether a signal arrived, and which (0 when none). */
bool cancel_requested(void);
int cancel_signal(void);

/*
 * For long loops: ERR_TEMPFAIL with "cancelled by signal N" in err (which
 * may be NULL) when a signal arrived, else ERR_OK. Cheap: one load.
 */
int cancel_check(Error *err);

/*
 * For the unit tests only: forgets the signal received and stops the
 * watchdog, so a test process that raised SIGTERM to see a computation
 * stop goes on (and is not shut down CANCEL_EXIT_SECONDS later).
 */
void cancel_reset(void);

#endif
