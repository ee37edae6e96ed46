/*
 * values: config value text into values (see values.h).
 */
#include "config/values.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numbers ----------------------------------------------------------- */

/* Only digits, none of them a leading zero: refuses 010, 0x10, 1_000 and "". */
static bool is_plain_decimal(const char *digits)
{
    if (digits[0] == '\0' || (digits[0] == '0' && digits[1] != '\0'))
        return false;
    for (const char *c = digits; *c != '\0'; c++)
        if (*c < '0' || *c > '9')
            return false;
    return true;
}

ValueStatus values_integer(const char *text, int64_t *value)
{
    if (!is_plain_decimal(text + (text[0] == '-' || text[0] == '+')))
        return VALUE_INVALID;
    errno = 0;
    long long parsed = strtoll(text, NULL, 10);
    if (errno == ERANGE)
        return VALUE_RANGE;
    *value = parsed;
    return VALUE_OK;
}

ValueStatus values_unsigned(const char *text, uint64_t *value)
{
    if (!is_plain_decimal(text))
        return VALUE_INVALID; /* also "-1", which strtoull would wrap */
    errno = 0;
    unsigned long long parsed = strtoull(text, NULL, 10);
    if (errno == ERANGE)
        return VALUE_RANGE;
    *value = parsed;
    return VALUE_OK;
}

/* YAML's and C's names for infinity and NaN, with or without a sign. */
static bool is_non_finite_name(const char *text)
{
    static const char *const names[] = {".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN",
                                        "inf",  "Inf",  "INF",  "nan",  "NaN",  "NAN"};
    const char *unsigned_text = text + (text[0] == '-' || text[0] == '+');
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(unsigned_text, names[i]) == 0)
            return true;
    return false;
}

/* At least one digit, and nothing but digits, signs, '.', 'e' and 'E'. */
static bool looks_decimal(const char *text)
{
    bool digit = false;
    for (const char *c = text; *c != '\0'; c++) {
        if (*c >= '0' && *c <= '9')
            digit = true;
        else if (strchr("+-.eE", *c) == NULL)
            return false;
    }
    return digit;
}

ValueStatus values_double(const char *text, double *value)
{
    if (is_non_finite_name(text))
        return VALUE_RANGE;
    if (!looks_decimal(text))
        return VALUE_INVALID;
    char *end;
    errno = 0;
    double parsed = strtod(text, &end);
    if (end == text || *end != '\0')
        return VALUE_INVALID;
    if (!isfinite(parsed))
        return VALUE_RANGE;
    *value = parsed; /* an underflow to 0 or a subnormal is a fine bound */
    return VALUE_OK;
}

/* ---- durations and byte sizes ------------------------------------------ */

/* A unit suffix and what one of it is worth. */
typedef struct {
    const char *unit;
    int64_t factor;
} Unit;

/* Digits followed by exactly one of units: the value times its factor. */
static bool parse_scaled(const char *text, const Unit *units, size_t unit_count, int64_t *out)
{
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return false;
    int64_t value = 0;
    const char *c = text;
    for (; *c >= '0' && *c <= '9'; c++) {
        if (value > (INT64_MAX - (*c - '0')) / 10)
            return false;
        value = value * 10 + (*c - '0');
    }
    for (size_t i = 0; i < unit_count; i++) {
        if (strcmp(c, units[i].unit) == 0) {
            if (value > INT64_MAX / units[i].factor)
                return false;
            *out = value * units[i].factor;
            return true;
        }
    }
    return false;
}

bool values_parse_duration(const char *text, int64_t *milliseconds)
{
    static const Unit units[] = {
        {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000}};
    return parse_scaled(text, units, sizeof units / sizeof units[0], milliseconds);
}

bool values_byte_size(const char *text, int64_t *bytes)
{
    static const Unit units[] = {{"", 1},
                                 {"B", 1},
                                 {"kB", 1000},
                                 {"KB", 1000},
                                 {"MB", 1000000},
                                 {"GB", 1000000000},
                                 {"TB", INT64_C(1000000000000)},
                                 {"KiB", INT64_C(1) << 10},
                                 {"MiB", INT64_C(1) << 20},
                                 {"GiB", INT64_C(1) << 30},
                                 {"TiB", INT64_C(1) << 40}};
    return parse_scaled(text, units, sizeof units / sizeof units[0], bytes);
}

/* ---- dates ------------------------------------------------------------- */

static bool is_leap_year(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Reads `count` digits at *at into value and advances; false if not digits. */
static bool take_digits(const char **at, int count, int *value)
{
    *value = 0;
    for (int i = 0; i < count; i++) {
        char c = (*at)[i];
        if (c < '0' || c > '9')
            return false;
        *value = *value * 10 + (c - '0');
    }
    *at += count;
    return true;
}

/* YYYY-MM-DD, a day that exists. */
static bool take_calendar_date(const char **at)
{
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year, month, day;
    if (!take_digits(at, 4, &year) || *(*at)++ != '-' || !take_digits(at, 2, &month)
        || *(*at)++ != '-' || !take_digits(at, 2, &day))
        return false;
    if (year < 1 || month < 1 || month > 12 || day < 1)
        return false;
    return day <= month_days[month - 1] + (month == 2 && is_leap_year(year));
}

/* HH:MM[:SS[.frac]], frac of 1 to 9 digits. */
static bool take_time(const char **at)
{
    int hour, minute, second;
    if (!take_digits(at, 2, &hour) || *(*at)++ != ':' || !take_digits(at, 2, &minute) || hour > 23
        || minute > 59)
        return false;
    if (**at != ':')
        return true;
    (*at)++;
    if (!take_digits(at, 2, &second) || second > 59)
        return false;
    if (**at == '.') {
        size_t fraction = strspn(++*at, "0123456789");
        if (fraction < 1 || fraction > 9)
            return false;
        *at += fraction;
    }
    return true;
}

/* Z, +HH[:MM], -HH[:MM], or no zone at all. */
static bool take_zone(const char **at)
{
    if (**at == 'Z') {
        (*at)++;
        return true;
    }
    if (**at != '+' && **at != '-')
        return true;
    int zone_hour, zone_minute = 0;
    (*at)++;
    if (!take_digits(at, 2, &zone_hour) || zone_hour > 23)
        return false;
    if (**at == ':' && ((*at)++, !take_digits(at, 2, &zone_minute) || zone_minute > 59))
        return false;
    return true;
}

/* After the date: nothing, or [T ]time[zone] and nothing more. */
static bool take_time_of_day(const char **at)
{
    if (**at != 'T' && **at != ' ')
        return false;
    (*at)++;
    return take_time(at) && take_zone(at) && **at == '\0';
}

bool values_date(const char *text, DateBound *out)
{
    const char *at = text;
    if (!take_calendar_date(&at))
        return false;
    bool date_only = *at == '\0';
    if (!date_only && !take_time_of_day(&at))
        return false;
    size_t length = strlen(text);
    if (length >= sizeof out->text)
        return false;
    out->set = true;
    out->date_only = date_only;
    memcpy(out->text, text, length + 1);
    return true;
}

/* ---- names ------------------------------------------------------------- */

static bool is_name_character(char c, const char *punctuation)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
           || (c != '\0' && strchr(punctuation, c) != NULL);
}

bool values_is_job_name(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > 63)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!is_name_character(name[i], "_.-"))
            return false;
    return true;
}

static bool is_variable_name(const char *name, size_t length)
{
    if (length == 0 || length > 255 || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < length; i++)
        if (!is_name_character(name[i], "_"))
            return false;
    return true;
}

/* ---- ${VAR} expansion -------------------------------------------------- */

typedef struct {
    char *data;
    size_t length, capacity;
} Buffer;

static bool buffer_append(Buffer *buffer, const char *text, size_t length)
{
    if (buffer->length + length + 1 > buffer->capacity) {
        size_t capacity = buffer->capacity == 0 ? 64 : buffer->capacity;
        while (capacity < buffer->length + length + 1)
            capacity *= 2;
        char *data = realloc(buffer->data, capacity);
        if (data == NULL)
            return false;
        buffer->data = data;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->length, text, length);
    buffer->length += length;
    buffer->data[buffer->length] = '\0';
    return true;
}

/*
 * The reference "${..." at text + at: the text it stands for in *piece and
 * *piece_length, and in *next where the text goes on after its "}".
 */
static ExpandStatus expand_reference(const char *text, size_t at, const char **piece,
                                     size_t *piece_length, size_t *next, ExpandProblem *problem)
{
    const char *start = text + at + 2;
    const char *close = strchr(start, '}');
    if (close == NULL)
        return EXPAND_UNTERMINATED;
    const char *fallback = strstr(start, ":-");
    bool has_default = fallback != NULL && fallback < close;
    size_t name_length = (size_t)((has_default ? fallback : close) - start);
    if (!is_variable_name(start, name_length)) {
        problem->start = at;
        problem->length = (size_t)(close - (text + at)) + 1;
        return EXPAND_BAD_NAME;
    }
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)name_length, start);
    const char *value = getenv(name);
    if (has_default && (value == NULL || value[0] == '\0')) {
        *piece = fallback + 2;
        *piece_length = (size_t)(close - *piece);
    } else if (value != NULL) {
        *piece = value;
        *piece_length = strlen(value);
    } else {
        snprintf(problem->name, sizeof problem->name, "%s", name);
        return EXPAND_UNSET;
    }
    *next = (size_t)(close - text) + 1;
    return EXPAND_OK;
}

ExpandStatus values_expand(const char *text, char **out, ExpandProblem *problem)
{
    ExpandStatus status = EXPAND_OK;
    Buffer buffer = {0};

    *out = NULL;
    if (!buffer_append(&buffer, "", 0)) {
        problem->bytes = 64;
        return EXPAND_NO_MEMORY;
    }
    for (size_t i = 0; text[i] != '\0' && status == EXPAND_OK;) {
        const char *piece = text + i; /* by default the one character at i */
        size_t piece_length = 1, next = i + 1;
        if (text[i] == '$' && text[i + 1] == '$')
            next = i + 2;
        else if (text[i] == '$' && text[i + 1] == '{')
            status = expand_reference(text, i, &piece, &piece_length, &next, problem);
        if (status == EXPAND_OK && !buffer_append(&buffer, piece, piece_length)) {
            problem->bytes = buffer.length + piece_length + 1;
            status = EXPAND_NO_MEMORY;
        }
        i = next;
    }
    if (status != EXPAND_OK) {
        free(buffer.data);
        return status;
    }
    *out = buffer.data;
    return EXPAND_OK;
}
