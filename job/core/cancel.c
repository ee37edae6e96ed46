#include "core/cancel.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received_signal;
static volatile CancelHook hook;
static sigset_t blocked_previous;

static void on_signal(int signo)
{
    received_signal = signo;
    CancelHook current = hook;
    if (current != NULL)
        current();
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

void cancel_set_hook(CancelHook new_hook)
{
    hook = new_hook;
}

void cancel_block(void)
{
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
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
