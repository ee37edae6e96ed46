/*
 * error: the error record every fallible function fills, and the exit codes
 * it maps to.
 *
 * Functions return 0 on success or one of the ERR_* codes below and, on
 * failure, fill a caller-owned Error with the code and a lowercase message
 * (what failed first, the subject quoted, no final full stop). A hint may
 * follow on its own line ("HINT: ...") where the fix is not obvious.
 * Only main turns the code into the process exit status.
 */
#ifndef PAIRPICK_ERROR_H
#define PAIRPICK_ERROR_H

#include <stddef.h>

/* The codes are the process exit statuses (sysexits.h). */
enum {
    ERR_OK = 0,
    ERR_USAGE = 64,       /* bad command line */
    ERR_DATA = 65,        /* the data cannot be used */
    ERR_UNAVAILABLE = 69, /* database unreachable */
    ERR_INTERNAL = 70,    /* a bug or an unexpected failure */
    ERR_IOERR = 74,       /* an output could not be written (disk full, closed pipe) */
    ERR_TEMPFAIL = 75,    /* try again later (lock held, cancelled) */
    ERR_NOPERM = 77,      /* authentication or authorization refused: do not retry */
    ERR_CONFIG = 78       /* bad configuration */
};

#define ERROR_MESSAGE_MAX 2048

typedef struct Error {
    int code;
    char message[ERROR_MESSAGE_MAX];
} Error;

/* Clears the record to "no error". */
void error_clear(Error *err);

/*
 * Fills err (when not NULL) with code and a printf-style message and returns
 * code, so a caller can write `return error_set(err, ERR_DATA, "...")`.
 * A second call overwrites the first.
 */
int error_set(Error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like error_set, for an allocation of `bytes` that failed: ERR_INTERNAL. */
int error_nomem(Error *err, size_t bytes);

#endif
