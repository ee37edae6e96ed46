#include "core/prefault.h"

#include "core/mapping.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PREFAULT_PAGE ((size_t)4096)
/* The helper writes at most this much per hold of the lock, so a growing
 * owner waits for one huge page at most. */
#define PREFAULT_STEP MAPPING_HUGE_PAGE

struct Prefault {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t helper;
    bool helper_started;
    bool stop;
    char *region;   /* NULL until the first reserve */
    size_t mapped;  /* bytes mapped */
    size_t want;    /* bytes the owner asked for */
    size_t written; /* bytes written: [0, written) */
};

static void *helper_run(void *argument)
{
    Prefault *prefault = argument;
    pthread_mutex_lock(&prefault->lock);
    while (!prefault->stop) {
        size_t goal = prefault->want < prefault->mapped ? prefault->want : prefault->mapped;
        if (prefault->written >= goal) {
            pthread_cond_wait(&prefault->wake, &prefault->lock);
            continue;
        }
        size_t end = goal - prefault->written > PREFAULT_STEP ? prefault->written + PREFAULT_STEP
                                                               : goal;
        /* Under the lock: the owner cannot move the region meanwhile. */
        volatile char *region = prefault->region;
        for (size_t at = prefault->written; at < end; at += PREFAULT_PAGE)
            region[at] = 0;
        prefault->written = end;
        /* Let a waiting owner in between steps. */
        pthread_mutex_unlock(&prefault->lock);
        pthread_mutex_lock(&prefault->lock);
    }
    pthread_mutex_unlock(&prefault->lock);
    return NULL;
}

Prefault *prefault_new(void)
{
    Prefault *prefault = calloc(1, sizeof *prefault);
    if (prefault == NULL)
        return NULL;
    pthread_mutex_init(&prefault->lock, NULL);
    pthread_cond_init(&prefault->wake, NULL);
    /* The helper takes no signal: they stay the owner's, as before it. */
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    prefault->helper_started = pthread_create(&prefault->helper, NULL, helper_run, prefault) == 0;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    return prefault;
}

bool prefault_reserve(Prefault *prefault, size_t bytes)
{
    if (bytes <= prefault->mapped)
        return true;
    if ((bytes = mapping_round(bytes)) == 0)
        return false;
    pthread_mutex_lock(&prefault->lock);
    char *region = prefault->region == NULL ? mapping_new(bytes)
                                            : mapping_grow(prefault->region, prefault->mapped, bytes);
    if (region != NULL) {
        prefault->region = region;
        prefault->mapped = bytes;
        pthread_cond_signal(&prefault->wake);
    }
    pthread_mutex_unlock(&prefault->lock);
    return region != NULL;
}

void prefault_want(Prefault *prefault, size_t bytes)
{
    pthread_mutex_lock(&prefault->lock);
    if (bytes > prefault->want) {
        prefault->want = bytes;
        pthread_cond_signal(&prefault->wake);
    }
    pthread_mutex_unlock(&prefault->lock);
}

static void stop_helper(Prefault *prefault)
{
    if (!prefault->helper_started)
        return;
    pthread_mutex_lock(&prefault->lock);
    prefault->stop = true;
    pthread_cond_signal(&prefault->wake);
    pthread_mutex_unlock(&prefault->lock);
    pthread_join(prefault->helper, NULL);
    prefault->helper_started = false;
}

static void destroy(Prefault *prefault)
{
    pthread_mutex_destroy(&prefault->lock);
    pthread_cond_destroy(&prefault->wake);
    free(prefault);
}

void *prefault_take(Prefault *prefault, size_t bytes, size_t *mapped)
{
    *mapped = 0;
    if (prefault == NULL)
        return NULL;
    stop_helper(prefault);
    char *region = prefault->region;
    if (region != NULL && prefault->mapped < bytes) {
        munmap(region, prefault->mapped);
        region = NULL;
    } else if (region != NULL) {
        *mapped = prefault->mapped;
    }
    destroy(prefault);
    return region;
}

void prefault_free(Prefault *prefault)
{
    size_t mapped;
    void *region = prefault_take(prefault, 0, &mapped);
    if (region != NULL)
        munmap(region, mapped);
}

size_t prefault_written(Prefault *prefault)
{
    pthread_mutex_lock(&prefault->lock);
    size_t written = prefault->written;
    pthread_mutex_unlock(&prefault->lock);
    return written;
}
