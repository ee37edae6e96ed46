/*
 * cancel: SIGINT and SIGTERM. The handler records the signal and asks the
 * server to cancel the statement in flight (PQcancel, which is safe in a
 * signal handler), so a run stops within moments, rolls back and exits 75.
 * Code between statements polls cancel_requested() at stage boundaries.
 *
 * It owns the PGcancel of the watched connection; main installs it once.
 */
#ifndef PAIRPICK_CANCEL_H
#define PAIRPICK_CANCEL_H

#include <stdbool.h>

#include <libpq-fe.h>

/* Installs the SIGINT/SIGTERM handlers. */
void cancel_install(void);

/* The connection whose statement a signal cancels (NULL: none). */
void cancel_watch(PGconn *conn);

/* Whether a signal arrived, and which (0 when none). */
bool cancel_requested(void);
int cancel_signal(void);

#endif
