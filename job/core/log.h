/*
 * log: the human and machine log on stderr. Text lines by default
 * ("pairpick: stream: read 4240 rows in 0.03 s"), or with --log-format json
 * one JSON object per line: ts, level, job, run_id, stage, message and,
 * when given, figures. --quiet keeps errors only; --verbose adds debug
 * lines. A progress line (rewritten in place) only when stderr is a
 * terminal and the format is text.
 *
 * A failed write does not stop the process: log_write_failed says it happened.
 *
 * Process-wide state, set once by main.
 */
#ifndef PAIRPICK_LOG_H
#define PAIRPICK_LOG_H

#include <stdbool.h>

typedef enum { LOG_TEXT, LOG_JSON } LogFormat;
typedef enum { LOG_QUIET, LOG_NORMAL, LOG_VERBOSE } LogLevel;

void log_setup(LogFormat format, LogLevel level, const char *job);
void log_set_run(const char *run_id);

bool log_is_json(void);
LogLevel log_level(void);

/*
 * One line. level: "debug", "info", "warning" or "error". figures: a JSON
 * object text ("{\"rows\":5}") or NULL; in text form it is left out.
 */
void log_line(const char *level, const char *stage, const char *figures, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Whether a write to stderr failed since the start (a closed pipe gives
 * EPIPE once SIGPIPE is ignored): the caller makes that its exit status.
 */
bool log_write_failed(void);

/* A progress line for a long stage; a no-op unless stderr is a terminal. */
void log_progress(const char *stage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ends a progress line (so the next line starts clean). */
void log_progress_done(void);

#endif
