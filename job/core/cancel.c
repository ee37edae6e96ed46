#include "core/cancel.h"

#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>

static volatile sig_atomic_t received_signal;
static volatile sig_atomic_t watchdog_fired;
static volatile CancelHook hook;
static sigset_t blocked_previous;

/* The signals that cancel a run. */
static const int cancel_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define CANCEL_SIGNAL_COUNT (sizeof cancel_signals / sizeof cancel_signals[0])

static void on_signal(int signo)
{
    bool first = received_signal == 0;
    received_signal = signo;
    CancelHook current = hook;
    if (current != NULL)
        current();
    if (first)
        alarm(CANCEL_ABORT_SECONDS);
}

/* Unblocks every read and write on a socket: the server is not answering. */
static void shut_down_sockets(void)
{
    struct rlimit limit;
    int highest = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 65536
                      ? (int)limit.rlim_cur
                      : 65536;
    for (int fd = 3; fd < highest; fd++)
        shutdown(fd, SHUT_RDWR); /* ENOTSOCK and EBADF for the others */
}

static void on_watchdog(int signo)
{
    (void)signo;
    if (received_signal == 0)
        return;
    if (!watchdog_fired) {
        watchdog_fired = 1;
        shut_down_sockets();
        alarm(CANCEL_EXIT_SECONDS - CANCEL_ABORT_SECONDS);
        return;
    }
    static const char message[] =
        "pairpick: error: cancelled by a signal, and the run did not stop within 10 s "
        "(the server does not answer); exiting\n";
    ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
    (void)ignored;
    _exit(ERR_TEMPFAIL);
}

void cancel_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < CANCEL_SIGNAL_COUNT; i++)
        sigaddset(&action.sa_mask, cancel_signals[i]);
    /* No SA_RESTART: sleeps and waits return early so the run can stop. */
    for (size_t i = 0; i < CANCEL_SIGNAL_COUNT; i++)
        sigaction(cancel_signals[i], &action, NULL);
    action.sa_handler = on_watchdog;
    sigaction(SIGALRM, &action, NULL);
    action.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &action, NULL);
    /* A process may start with them blocked (its parent's mask survives
     * exec): a signal held pending meanwhile is delivered here. */
    sigset_t unblock;
    sigemptyset(&unblock);
    for (size_t i = 0; i < CANCEL_SIGNAL_COUNT; i++)
        sigaddset(&unblock, cancel_signals[i]);
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);
}

void cancel_set_hook(CancelHook new_hook)
{
    hook = new_hook;
}

void cancel_block(void)
{
    sigset_t block;
    sigemptyset(&block);
    for (size_t i = 0; i < CANCEL_SIGNAL_COUNT; i++)
        sigaddset(&block, cancel_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &blocked_previous);
}

void cancel_unblock(void)
{
    sigprocmask(SIG_SETMASK, &blocked_previous, NULL);
}

bool cancel_requested(void)
{
    return received_signal != 0;
}

int cancel_signal(void)
{
    return received_signal;
}

int cancel_check(Error *err)
{
    if (received_signal == 0)
        return ERR_OK;
    return error_set(err, ERR_TEMPFAIL, "cancelled by signal %d", (int)received_signal);
}

void cancel_reset(void)
{
    cancel_block();
    alarm(0);
    received_signal = 0;
    watchdog_fired = 0;
    cancel_unblock();
}
