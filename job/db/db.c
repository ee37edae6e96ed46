#include "db/db.h"
#include "db/pg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/cancel.h"
#include "core/log.h"
#include "db/conninfo.h"

struct Db {
    PGconn *conn;
    char last_sqlstate[6]; /* of the last failed statement, "" if none had one */
};

/* The cancel request of the watched connection, read by the signal handler. */
static PGcancel *volatile watched;

/* The hook core/cancel calls from its signal handler: PQcancel is safe there. */
static void cancel_in_flight(void)
{
    char buffer[256];
    PGcancel *cancel = watched;
    if (cancel != NULL)
        PQcancel(cancel, buffer, sizeof buffer);
}

void db_watch_cancel(Db *db)
{
    /* The handler must never see a PGcancel being freed. */
    cancel_block();
    PGcancel *old = watched;
    watched = db != NULL ? PQgetCancel(db->conn) : NULL;
    cancel_set_hook(cancel_in_flight);
    cancel_unblock();
    if (old != NULL)
        PQfreeCancel(old);
}

/* Sleeps for `ms` milliseconds, resuming after signals. */
static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !cancel_requested())
        ;
}

/* libpq's messages end in a newline; messages in Error do not. */
static void trim_newlines(char *text)
{
    size_t length = strlen(text);
    while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == '\r'))
        text[--length] = '\0';
}

/*
 * The server's notices and warnings (a NOTICE from the user's query, a
 * WARNING about a setting) go through the log like pairpick's own lines,
 * so --log-format json stays one JSON object per line.
 */
static void notice_to_log(void *context, const PGresult *result)
{
    (void)context;
    const char *severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    const char *level = "info";
    if (severity != NULL && strcmp(severity, "WARNING") == 0)
        level = "warning";
    else if (severity != NULL && (strcmp(severity, "DEBUG") == 0 || strcmp(severity, "LOG") == 0))
        level = "debug";
    if (primary == NULL) {
        char message[ERROR_MESSAGE_MAX];
        snprintf(message, sizeof message, "%s", PQresultErrorMessage(result));
        trim_newlines(message);
        log_line(level, "server", NULL, "server %s: %s", severity != NULL ? severity : "notice",
                 message);
        return;
    }
    log_line(level, "server", NULL, "server %s: %s", severity != NULL ? severity : "notice",
             primary);
}

/*
 * The SQLSTATE of a failed connection attempt, taken out of libpq's message
 * (libpq keeps it nowhere else for a connection): with PQERRORS_VERBOSE a
 * server error reads "FATAL:  28P01: password authentication failed ...".
 * Copies the code into state ("" if none) and takes it, and the LOCATION
 * lines verbose mode adds, out of the message. The last one wins (a
 * multi-host string tries each host).
 */
static void take_connect_sqlstate(char *message, char state[6])
{
    state[0] = '\0';
    for (char *c = strstr(message, ":  "); c != NULL; c = strstr(c + 1, ":  ")) {
        char *code = c + 3;
        size_t length = strspn(code, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        if (length == 5 && code[5] == ':' && code[6] == ' ') {
            memcpy(state, code, 5);
            state[5] = '\0';
            memmove(code, code + 7, strlen(code + 7) + 1);
        }
    }
    for (char *line = strstr(message, "LOCATION:  "); line != NULL;
         line = strstr(line, "LOCATION:  ")) {
        char *end = strchr(line, '\n');
        if (end == NULL)
            *line = '\0';
        else
            memmove(line, end + 1, strlen(end + 1) + 1);
    }
}

/*
 * One connection attempt, driven with PQconnectPoll so the error verbosity
 * can be set before the server answers (the SQLSTATE of a refused login is
 * only in the verbose message). timeout_ms bounds the whole attempt (0:
 * none). NULL when memory runs out.
 */
static PGconn *connect_once(const char *const *keys, const char *const *values,
                            int64_t timeout_ms)
{
    PGconn *conn = PQconnectStartParams(keys, values, 1);
    if (conn == NULL || PQstatus(conn) == CONNECTION_BAD)
        return conn;
    PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    PostgresPollingStatusType status = PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED) {
        struct pollfd socket = {.fd = PQsocket(conn),
                                .events = status == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        int wait_ms = -1;
        if (timeout_ms > 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            int64_t spent = (int64_t)(now.tv_sec - start.tv_sec) * 1000
                            + (now.tv_nsec - start.tv_nsec) / 1000000;
            if (spent >= timeout_ms) {
                PQfinish(conn);
                return NULL; /* the caller reports the timeout */
            }
            wait_ms = (int)(timeout_ms - spent < 1000 ? timeout_ms - spent : 1000);
        } else {
            wait_ms = 1000;
        }
        int ready = poll(&socket, 1, wait_ms);
        if (cancel_requested())
            break;
        if (ready < 0 && errno != EINTR)
            break;
        if (ready > 0)
            status = PQconnectPoll(conn);
    }
    return conn;
}

/*
 * Why an attempt failed: ERR_NOPERM when the server refused the login (a
 * wrong password or user, class 28; no CONNECT privilege, 42501; or no
 * password to give), ERR_CONFIG when the database named does not exist
 * (3D000: another attempt cannot find it), ERR_UNAVAILABLE otherwise
 * (worth another attempt).
 */
static int connect_failure_code(PGconn *conn, const char *state)
{
    if (strncmp(state, "28", 2) == 0 || strcmp(state, "42501") == 0)
        return ERR_NOPERM;
    if (strcmp(state, "3D000") == 0)
        return ERR_CONFIG;
    if (conn != NULL && PQconnectionNeedsPassword(conn))
        return ERR_NOPERM;
    return ERR_UNAVAILABLE;
}

int db_connect(const DbConnectOptions *options, Db **out, Error *err)
{
    const char *keys[5];
    const char *values[5];
    char timeout_text[32];
    int count = 0;
    uint64_t jitter_state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    int code;

    *out = NULL;
    /* A string libpq cannot read stays unreadable: no attempt at all. */
    if ((code = db_check_conninfo(options->conninfo, err)) != ERR_OK)
        return code;
    /* dbname is expanded as a conninfo string or URI, libpq's own rule. */
    keys[count] = "dbname";
    values[count++] = options->conninfo != NULL && options->conninfo[0] != '\0'
                          ? options->conninfo
                          : NULL;
    if (values[count - 1] == NULL)
        count--;
    if (options->application_name != NULL) {
        keys[count] = "application_name"; /* after dbname: it wins */
        values[count++] = options->application_name;
    }
    if (options->timeout_ms > 0) {
        /* libpq takes whole seconds; round up so 500ms is not "no timeout". */
        snprintf(timeout_text, sizeof timeout_text, "%lld",
                 (long long)((options->timeout_ms + 999) / 1000));
        keys[count] = "connect_timeout";
        values[count++] = timeout_text;
    }
    keys[count] = NULL;
    values[count] = NULL;

    int attempts = options->retries + 1;
    int64_t backoff_ms = 200;
    for (int attempt = 1; attempt <= attempts; attempt++) {
        PGconn *conn = connect_once(keys, values, options->timeout_ms);
        if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
            Db *db = calloc(1, sizeof *db);
            if (db == NULL) {
                PQfinish(conn);
                return error_nomem(err, sizeof *db);
            }
            PQsetErrorVerbosity(conn, PQERRORS_DEFAULT);
            db->conn = conn;
            PQsetNoticeReceiver(conn, notice_to_log, NULL);
            if (!options->unwatched)
                db_watch_cancel(db);
            *out = db;
            return ERR_OK;
        }
        char message[ERROR_MESSAGE_MAX / 2], state[6] = "";
        snprintf(message, sizeof message, "%s",
                 conn != NULL ? PQerrorMessage(conn) : "timeout expired");
        take_connect_sqlstate(message, state);
        trim_newlines(message);
        code = connect_failure_code(conn, state);
        PQfinish(conn);
        if (cancel_requested()) {
            error_set(err, ERR_TEMPFAIL, "cancelled while connecting");
            return ERR_TEMPFAIL;
        }
        if (code == ERR_NOPERM)
            return error_set(err, ERR_NOPERM,
                             "the database refused the login: %s%s%s%s"
                             "\nHINT: check the user and password (database.conninfo, "
                             "PGPASSWORD, ~/.pgpass) and pg_hba.conf; not retried",
                             message, state[0] != '\0' ? " (SQLSTATE " : "", state,
                             state[0] != '\0' ? ")" : "");
        if (code == ERR_CONFIG)
            return error_set(err, ERR_CONFIG,
                             "cannot connect to the database: %s (SQLSTATE %s)"
                             "\nHINT: check the database name in database.conninfo (or PGDATABASE); "
                             "not retried",
                             message, state);
        error_set(err, ERR_UNAVAILABLE, "cannot connect to the database (attempt %d of %d): %s",
                  attempt, attempts, message);
        if (attempt < attempts) {
            /* Exponential backoff with full jitter, so retries of many jobs
             * started together by a scheduler do not arrive in step. */
            jitter_state = jitter_state * 6364136223846793005ULL + 1442695040888963407ULL;
            int64_t wait_ms = backoff_ms / 2 + (int64_t)((jitter_state >> 33) % (uint64_t)(backoff_ms / 2 + 1));
            sleep_ms(wait_ms);
            if (backoff_ms < 30000)
                backoff_ms *= 2;
        }
    }
    return ERR_UNAVAILABLE;
}

void db_close(Db *db)
{
    if (db == NULL)
        return;
    db_watch_cancel(NULL);
    PQfinish(db->conn);
    free(db);
}

PGconn *db_conn(Db *db)
{
    return db->conn;
}

bool db_last_error_is_conflict(const Db *db)
{
    return strcmp(db->last_sqlstate, "40P01") == 0 || strcmp(db->last_sqlstate, "40001") == 0;
}

/*
 * A connection lost once connected (a server restart, a terminated backend,
 * also while it sat idle) is "try later" (75), like a timeout: the next
 * scheduled attempt is likely to work. ERR_UNAVAILABLE (69) is for a server
 * that could not be reached at all after the connect retries.
 */
#define LOST_MID_RUN ERR_TEMPFAIL

/*
 * Whether the connection is gone. After a server restart the first
 * statement fails with "server closed the connection unexpectedly" while
 * PQstatus still says OK: reading from the socket tells.
 */
static bool connection_lost(Db *db)
{
    return PQstatus(db->conn) == CONNECTION_BAD || PQconsumeInput(db->conn) == 0
           || PQstatus(db->conn) == CONNECTION_BAD;
}

int db_error_code(Db *db, const PGresult *result)
{
    if (PQstatus(db->conn) == CONNECTION_BAD)
        return LOST_MID_RUN;
    const char *state = result != NULL ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    if (state == NULL) /* a failure libpq made itself */
        return connection_lost(db) ? LOST_MID_RUN : ERR_INTERNAL;
    if (strcmp(state, "08P01") == 0)
        return ERR_INTERNAL; /* a protocol violation is our bug, not the network */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        return LOST_MID_RUN; /* connection exceptions, server shutting down */
    if (strcmp(state, "57014") == 0 || strncmp(state, "40", 2) == 0
        || strcmp(state, "55P03") == 0 || strncmp(state, "53", 2) == 0)
        return ERR_TEMPFAIL; /* cancelled, timeout, serialization, lock, resources */
    if (strncmp(state, "42", 2) == 0)
        return ERR_CONFIG; /* undefined table or column, syntax, privileges */
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
        return ERR_DATA;
    return ERR_INTERNAL;
}

/* Fills err from a failed result: statement name, message, detail, hint. */
static int fail_from_result(Db *db, const char *kind, const char *name, PGresult *result,
                            Error *err)
{
    int code = db_error_code(db, result);
    const char *primary = result != NULL ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)
                                         : NULL;
    const char *detail = result != NULL ? PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)
                                        : NULL;
    const char *hint = result != NULL ? PQresultErrorField(result, PG_DIAG_MESSAGE_HINT) : NULL;
    const char *state = result != NULL ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    char message[ERROR_MESSAGE_MAX];

    snprintf(db->last_sqlstate, sizeof db->last_sqlstate, "%s", state != NULL ? state : "");

    if (primary == NULL) {
        snprintf(message, sizeof message, "%s", PQerrorMessage(db->conn));
        trim_newlines(message);
        primary = message[0] != '\0' ? message : "unknown error";
    }
    error_set(err, code, "%s \"%s\" failed: %s%s%s%s%s%s%s%s", kind, name, primary,
              state != NULL ? " (SQLSTATE " : "", state != NULL ? state : "",
              state != NULL ? ")" : "", detail != NULL ? "\nDETAIL: " : "",
              detail != NULL ? detail : "", hint != NULL ? "\nHINT: " : "",
              hint != NULL ? hint : "");
    return code;
}

/* Reads results until NULL, so the connection is idle for the next query. */
static void drain(Db *db)
{
    PGresult *rest;
    while ((rest = PQgetResult(db->conn)) != NULL)
        PQclear(rest);
}

static int exec_expect(Db *db, const char *kind, const char *name, const char *sql, int count,
                       const char *const *params, ExecStatusType expected, PGresult **out,
                       Error *err)
{
    PGresult *result = PQexecParams(db->conn, sql, count, NULL, params, NULL, NULL, 0);
    ExecStatusType status = result != NULL ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != expected && !(expected == PGRES_COMMAND_OK && status == PGRES_TUPLES_OK)) {
        int code = fail_from_result(db, kind, name, result, err);
        PQclear(result);
        return code;
    }
    *out = result;
    return ERR_OK;
}

int db_command(Db *db, const char *name, const char *sql, int count, const char *const *params,
               uint64_t *affected, Error *err)
{
    PGresult *result = NULL;
    int code = exec_expect(db, "statement", name, sql, count, params, PGRES_COMMAND_OK, &result,
                           err);
    if (code != ERR_OK)
        return code;
    if (affected != NULL) {
        const char *tuples = PQcmdTuples(result);
        *affected = tuples[0] != '\0' ? strtoull(tuples, NULL, 10) : 0;
    }
    PQclear(result);
    return ERR_OK;
}

int db_query_pg(Db *db, const char *name, const char *sql, int count, const char *const *params,
                PGresult **out, Error *err)
{
    *out = NULL;
    return exec_expect(db, "query", name, sql, count, params, PGRES_TUPLES_OK, out, err);
}

/* A DbResult is a PGresult that the modules above job/db cannot look into. */
static const PGresult *pg_of(const DbResult *result)
{
    return (const PGresult *)result;
}

int db_query(Db *db, const char *name, const char *sql, int count, const char *const *params,
             DbResult **out, Error *err)
{
    PGresult *result = NULL;
    int code = db_query_pg(db, name, sql, count, params, &result, err);
    *out = (DbResult *)result;
    return code;
}

int db_result_rows(const DbResult *result)
{
    return PQntuples(pg_of(result));
}

const char *db_result_value(const DbResult *result, int row, int column)
{
    return PQgetvalue(pg_of(result), row, column);
}

size_t db_result_length(const DbResult *result, int row, int column)
{
    return (size_t)PQgetlength(pg_of(result), row, column);
}

bool db_result_is_null(const DbResult *result, int row, int column)
{
    return PQgetisnull(pg_of(result), row, column) != 0;
}

void db_result_free(DbResult *result)
{
    PQclear((PGresult *)result);
}

int db_query_text(Db *db, const char *name, const char *sql, int count,
                  const char *const *params, char *value, size_t size, bool *is_null,
                  Error *err)
{
    PGresult *result = NULL;
    int code = db_query_pg(db, name, sql, count, params, &result, err);
    if (code != ERR_OK)
        return code;
    if (PQntuples(result) != 1 || PQnfields(result) < 1) {
        code = error_set(err, ERR_INTERNAL, "query \"%s\" returned %d rows, expected one", name,
                         PQntuples(result));
    } else {
        if (is_null != NULL)
            *is_null = PQgetisnull(result, 0, 0) != 0;
        snprintf(value, size, "%s", PQgetvalue(result, 0, 0));
    }
    PQclear(result);
    return code;
}

int db_query_uint64(Db *db, const char *name, const char *sql, int count,
                    const char *const *params, uint64_t *value, Error *err)
{
    char text[32];
    bool is_null = false;
    int code = db_query_text(db, name, sql, count, params, text, sizeof text, &is_null, err);
    if (code != ERR_OK)
        return code;
    *value = is_null ? 0 : strtoull(text, NULL, 10);
    return ERR_OK;
}

int db_describe(Db *db, const char *name, const char *sql, int param_count, uint32_t *types,
                int max_types, int *column_count, Error *err)
{
    int code = ERR_OK;
    PGresult *result = PQprepare(db->conn, "", sql, param_count, NULL);
    if (result == NULL || PQresultStatus(result) != PGRES_COMMAND_OK) {
        code = fail_from_result(db, "query", name, result, err);
        PQclear(result);
        return code;
    }
    PQclear(result);
    result = PQdescribePrepared(db->conn, "");
    if (result == NULL || PQresultStatus(result) != PGRES_COMMAND_OK) {
        code = fail_from_result(db, "query", name, result, err);
    } else {
        *column_count = PQnfields(result);
        for (int i = 0; i < max_types && i < *column_count; i++)
            types[i] = (uint32_t)PQftype(result, i);
    }
    PQclear(result);
    return code;
}

int db_script(Db *db, const char *name, const char *sql, Error *err)
{
    int code = ERR_OK;
    PGresult *result = PQexec(db->conn, sql);
    ExecStatusType status = result != NULL ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        code = fail_from_result(db, "script", name, result, err);
    PQclear(result);
    return code;
}

int db_begin(Db *db, const char *name, const char *mode, Error *err)
{
    char sql[160];
    snprintf(sql, sizeof sql, "BEGIN%s%s", mode != NULL ? " " : "", mode != NULL ? mode : "");
    return db_command(db, name, sql, 0, NULL, NULL, err);
}

int db_commit(Db *db, const char *name, Error *err)
{
    return db_command(db, name, "COMMIT", 0, NULL, NULL, err);
}

void db_rollback(Db *db, const char *name)
{
    Error ignored;
    db_command(db, name, "ROLLBACK", 0, NULL, NULL, &ignored);
}

int db_copy_out(Db *db, const char *name, const char *sql, int count, const char *const *params,
                DbCopyOutFn on_data, void *context, Error *err)
{
    int code = ERR_OK;
    PGresult *result = PQexecParams(db->conn, sql, count, NULL, params, NULL, NULL, 0);
    if (result == NULL || PQresultStatus(result) != PGRES_COPY_OUT) {
        code = fail_from_result(db, "copy", name, result, err);
        PQclear(result);
        drain(db);
        return code;
    }
    PQclear(result);

    for (;;) {
        char *chunk = NULL;
        int length = PQgetCopyData(db->conn, &chunk, 0);
        if (length > 0) {
            bool failed_now = false;
            if (code == ERR_OK) {
                code = on_data(context, chunk, (size_t)length, err);
                failed_now = code != ERR_OK;
            }
            PQfreemem(chunk);
            /* Once, at the failure: a cancel request per row still in
             * flight would open as many connections to the server. */
            if (failed_now) {
                /* Stop the server sending the rest; then read to the end. */
                PGcancel *cancel = PQgetCancel(db->conn);
                char buffer[256];
                if (cancel != NULL) {
                    PQcancel(cancel, buffer, sizeof buffer);
                    PQfreeCancel(cancel);
                }
            }
            continue;
        }
        if (length == -1)
            break; /* done: the final status follows */
        /* -2: the copy failed. */
        if (code == ERR_OK) {
            error_set(err, connection_lost(db) ? LOST_MID_RUN : ERR_INTERNAL,
                      "copy \"%s\" failed: %s", name, PQerrorMessage(db->conn));
            trim_newlines(err->message);
            code = err->code;
        }
        break;
    }

    while ((result = PQgetResult(db->conn)) != NULL) {
        if (PQresultStatus(result) != PGRES_COMMAND_OK && code == ERR_OK)
            code = fail_from_result(db, "copy", name, result, err);
        PQclear(result);
    }
    if (code == ERR_OK && PQstatus(db->conn) == CONNECTION_BAD)
        code = error_set(err, LOST_MID_RUN, "copy \"%s\" failed: connection lost", name);
    return code;
}

int db_copy_in_start(Db *db, const char *name, const char *sql, Error *err)
{
    PGresult *result = PQexec(db->conn, sql);
    if (result == NULL || PQresultStatus(result) != PGRES_COPY_IN) {
        int code = fail_from_result(db, "copy", name, result, err);
        PQclear(result);
        drain(db);
        return code;
    }
    PQclear(result);
    return ERR_OK;
}

int db_copy_in_put(Db *db, const char *name, const char *data, size_t length, Error *err)
{
    while (length > 0) {
        int part = length > (1u << 30) ? (1 << 30) : (int)length;
        if (PQputCopyData(db->conn, data, part) != 1) {
            error_set(err, connection_lost(db) ? LOST_MID_RUN : ERR_INTERNAL,
                      "copy \"%s\" failed sending data: %s", name, PQerrorMessage(db->conn));
            trim_newlines(err->message);
            return err != NULL ? err->code : ERR_INTERNAL;
        }
        data += part;
        length -= (size_t)part;
    }
    return ERR_OK;
}

int db_copy_in_end(Db *db, const char *name, const char *abort_reason, uint64_t *rows, Error *err)
{
    int code = ERR_OK;
    if (PQputCopyEnd(db->conn, abort_reason) != 1) {
        code = error_set(err, connection_lost(db) ? LOST_MID_RUN : ERR_INTERNAL,
                         "copy \"%s\" failed ending: %s", name, PQerrorMessage(db->conn));
        trim_newlines(err->message);
    }
    PGresult *result;
    while ((result = PQgetResult(db->conn)) != NULL) {
        if (PQresultStatus(result) == PGRES_COMMAND_OK) {
            if (rows != NULL) {
                const char *tuples = PQcmdTuples(result);
                *rows = tuples[0] != '\0' ? strtoull(tuples, NULL, 10) : 0;
            }
        } else if (code == ERR_OK && abort_reason == NULL) {
            code = fail_from_result(db, "copy", name, result, err);
        }
        PQclear(result);
    }
    if (abort_reason != NULL && code == ERR_OK)
        code = ERR_INTERNAL; /* the caller already holds the real error */
    return code;
}

char *db_quote_ident(void *context, const char *ident, Error *err)
{
    Db *db = context;
    char *escaped = PQescapeIdentifier(db->conn, ident, strlen(ident));
    if (escaped == NULL) {
        error_set(err, ERR_CONFIG, "cannot quote identifier \"%s\": %s", ident,
                  PQerrorMessage(db->conn));
        trim_newlines(err->message);
        return NULL;
    }
    /* PQescapeIdentifier's memory is libpq's; hand back malloc'd memory. */
    char *copy = strdup(escaped);
    PQfreemem(escaped);
    if (copy == NULL)
        error_nomem(err, strlen(ident) + 3);
    return copy;
}
