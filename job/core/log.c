#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"

static LogFormat log_format = LOG_TEXT;
static LogLevel current_level = LOG_NORMAL;
static char job_name[128];
static char run_id[128];
static bool progress_shown;
static int terminal = -1;
static bool write_failed;

/* A failed write on stderr (EPIPE on a closed pipe, a full disk) is remembered, not fatal. */
static void check_written(void)
{
    if (ferror(stderr)) {
        write_failed = true;
        clearerr(stderr);
    }
}

bool log_write_failed(void)
{
    check_written();
    return write_failed;
}

void log_setup(LogFormat format, LogLevel level, const char *job)
{
    log_format = format;
    current_level = level;
    snprintf(job_name, sizeof job_name, "%s", job != NULL ? job : "");
}

void log_set_run(const char *id)
{
    snprintf(run_id, sizeof run_id, "%s", id != NULL ? id : "");
}

bool log_is_json(void)
{
    return log_format == LOG_JSON;
}

LogLevel log_level(void)
{
    return current_level;
}

static bool wanted(const char *level)
{
    if (strcmp(level, "error") == 0)
        return true;
    if (current_level == LOG_QUIET)
        return false;
    if (strcmp(level, "debug") == 0)
        return current_level == LOG_VERBOSE;
    return true;
}

void log_line(const char *level, const char *stage, const char *figures, const char *fmt, ...)
{
    char message[4096];
    va_list args;
    if (!wanted(level))
        return;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    log_progress_done();
    if (log_format == LOG_TEXT) {
        bool plain = strcmp(level, "info") == 0;
        fprintf(stderr, "pairpick: %s%s%s%s%s\n", plain ? "" : level, plain ? "" : ": ",
                stage != NULL ? stage : "", stage != NULL ? ": " : "", message);
        check_written();
        return;
    }
    struct timeval now;
    struct tm utc;
    char stamp[64];
    gettimeofday(&now, NULL);
    gmtime_r(&now.tv_sec, &utc);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"level\":", stamp, (long)(now.tv_usec / 1000));
    json_string(stderr, level);
    fputs(",\"job\":", stderr);
    json_string(stderr, job_name);
    fputs(",\"run_id\":", stderr);
    json_string(stderr, run_id);
    fputs(",\"stage\":", stderr);
    json_string(stderr, stage != NULL ? stage : "");
    fputs(",\"message\":", stderr);
    json_string(stderr, message);
    if (figures != NULL)
        fprintf(stderr, ",\"figures\":%s", figures);
    fputs("}\n", stderr);
    fflush(stderr);
    check_written();
}

void log_progress(const char *stage, const char *fmt, ...)
{
    if (terminal < 0)
        terminal = isatty(STDERR_FILENO);
    if (!terminal || log_format != LOG_TEXT || current_level == LOG_QUIET)
        return;
    char message[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    fprintf(stderr, "\rpairpick: %s: %s\033[K", stage, message);
    fflush(stderr);
    check_written();
    progress_shown = true;
}

void log_progress_done(void)
{
    if (progress_shown) {
        fputc('\n', stderr);
        progress_shown = false;
    }
}
