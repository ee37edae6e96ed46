#include "cancel.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received_signal;
static PGcancel *volatile watched;

static void on_signal(int signo)
{
    char buffer[256];
    received_signal = signo;
    PGcancel *cancel = watched;
    if (cancel != NULL)
        PQcancel(cancel, buffer, sizeof buffer);
}

void cancel_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    /* No SA_RESTART: sleeps and waits return early so the run can stop. */
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

void cancel_watch(PGconn *conn)
{
    sigset_t block, previous;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    /* The handler must never see a PGcancel being freed. */
    sigprocmask(SIG_BLOCK, &block, &previous);
    PGcancel *old = watched;
    watched = conn != NULL ? PQgetCancel(conn) : NULL;
    sigprocmask(SIG_SETMASK, &previous, NULL);
    if (old != NULL)
        PQfreeCancel(old);
}

bool cancel_requested(void)
{
    return received_signal != 0;
}

int cancel_signal(void)
{
    return received_signal;
}
