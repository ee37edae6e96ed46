/*
 * fields: a key's value converted, checked and stored (see fields.h).
 */
#include "config/fields.h"
#include "config/message.h"
#include "config/values.h"

#include <float.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the form a key expects -------------------------------------------- */

static void describe_choices(const Choice *choices, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const Choice *c = choices; c->name != NULL && used < size; c++)
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%s", c == choices ? "" : ", ", c->name);
}

static const char *describe_integer(const KeySpec *spec, char *buf)
{
    if (spec->max == INT64_MAX)
        snprintf(buf, FORM_BUFFER, "an integer >= %" PRId64, spec->min);
    else
        snprintf(buf, FORM_BUFFER, "an integer from %" PRId64 " to %" PRId64, spec->min, spec->max);
    return buf;
}

static const char *describe_number(const KeySpec *spec, char *buf)
{
    if (spec->low == -DBL_MAX && spec->high == DBL_MAX)
        return "a number";
    if (spec->high == DBL_MAX)
        snprintf(buf, FORM_BUFFER, "a number >= %g", spec->low);
    else
        snprintf(buf, FORM_BUFFER, "a number from %g to %g", spec->low, spec->high);
    return buf;
}

const char *fields_describe_form(const KeySpec *spec, char *buf)
{
    switch (spec->type) {
    case KEY_SECTION:
        return "a mapping of keys";
    case KEY_STRING:
        return "a non-empty string";
    case KEY_NAME:
        return "a name of 1 to 63 characters from A-Z, a-z, 0-9, '_', '.' and '-'";
    case KEY_INT:
    case KEY_INT64:
        return describe_integer(spec, buf);
    case KEY_OPTIONAL_UINT64:
        if (spec->max > 0) {
            snprintf(buf, FORM_BUFFER, "an integer from 0 to %" PRId64, spec->max);
            return buf;
        }
        return "an integer from 0 to 18446744073709551615";
    case KEY_DOUBLE:
    case KEY_OPTIONAL_DOUBLE:
        return describe_number(spec, buf);
    case KEY_DURATION:
        return "a duration such as 500ms, 30s, 10min, 12h or 7d";
    case KEY_BYTES:
        return "a byte size such as 1048576, 512MB or 2GiB";
    case KEY_ENUM:
        memcpy(buf, "one of ", 8);
        describe_choices(spec->choices, buf + 7, FORM_BUFFER - 7);
        return buf;
    case KEY_DATE:
        return "a date YYYY-MM-DD or a timestamp YYYY-MM-DDTHH:MM[:SS[.frac]][Z|+HH:MM]";
    case KEY_STRATEGY_LIST:
        return "score, category, embedding or [embedding, score]";
    }
    return "a value";
}

int fields_fail_expected(const Document *doc, const KeySpec *spec, const Node *node,
                         const char *hint)
{
    char form[FORM_BUFFER], got[QUOTE_BUFFER + 2];
    return message_fail(doc, node->mark, spec->path, hint, "expected %s, got %s",
                        fields_describe_form(spec, form), tree_describe(node, got));
}

/* "PATH: expected FORM, got "VALUE"REASON" at the node. */
static int fail_value(const Document *doc, const KeySpec *spec, const Node *node, const char *hint,
                      const char *reason)
{
    char form[FORM_BUFFER], got[QUOTE_BUFFER];
    return message_fail(doc, node->mark, spec->path, hint, "expected %s, got \"%s\"%s",
                        fields_describe_form(spec, form),
                        message_quote(got, node->value, node->length), reason);
}

/* "PATH: expected an integer >= LIMIT" and the like: a value past one bound. */
static int fail_bound(const Document *doc, const KeySpec *spec, const Node *node, const char *bound)
{
    char got[QUOTE_BUFFER];
    return message_fail(doc, node->mark, spec->path, NULL, "expected %s, got \"%s\"", bound,
                        message_quote(got, node->value, node->length));
}

/* ---- numbers ----------------------------------------------------------- */

/* A quoted number is refused: see the policy in fields.h. */
static int refuse_quoted_number(const Document *doc, const KeySpec *spec, const Node *node)
{
    char form[FORM_BUFFER], got[QUOTE_BUFFER];
    return message_fail(doc, node->mark, spec->path, "write numbers without quotes",
                        "expected %s, got the quoted string \"%s\"",
                        fields_describe_form(spec, form),
                        message_quote(got, node->value, node->length));
}

static int fail_number(const Document *doc, const KeySpec *spec, const Node *node,
                       ValueStatus status)
{
    if (status == VALUE_RANGE)
        return fail_value(doc, spec, node, NULL, " (out of range)");
    const char *v = node->value;
    const char *digits = v + (v[0] == '-' || v[0] == '+');
    bool leading_zero = digits[0] == '0' && digits[1] >= '0' && digits[1] <= '9';
    return fields_fail_expected(doc, spec, node,
                                leading_zero ? "write the number without leading zeros" : NULL);
}

static int convert_integer(const Document *doc, const KeySpec *spec, const Node *node,
                           int64_t *value)
{
    if (!node->plain)
        return refuse_quoted_number(doc, spec, node);
    ValueStatus status = values_integer(node->value, value);
    if (status != VALUE_OK)
        return fail_number(doc, spec, node, status);
    char bound[64];
    if (*value < spec->min) {
        snprintf(bound, sizeof bound, "an integer >= %" PRId64, spec->min);
        return fail_bound(doc, spec, node, bound);
    }
    if (*value > spec->max) {
        snprintf(bound, sizeof bound, "an integer <= %" PRId64, spec->max);
        return fail_bound(doc, spec, node, bound);
    }
    return ERR_OK;
}

static int convert_unsigned(const Document *doc, const KeySpec *spec, const Node *node,
                            uint64_t *value)
{
    if (!node->plain)
        return refuse_quoted_number(doc, spec, node);
    ValueStatus status = values_unsigned(node->value, value);
    return status == VALUE_OK ? ERR_OK : fail_number(doc, spec, node, status);
}

static int convert_double(const Document *doc, const KeySpec *spec, const Node *node, double *value)
{
    if (!node->plain)
        return refuse_quoted_number(doc, spec, node);
    ValueStatus status = values_double(node->value, value);
    if (status == VALUE_RANGE)
        return fail_value(doc, spec, node, NULL, " (not a finite number)");
    if (status != VALUE_OK)
        return fields_fail_expected(doc, spec, node, NULL);
    char bound[64];
    if (*value < spec->low) {
        snprintf(bound, sizeof bound, "a number >= %g", spec->low);
        return fail_bound(doc, spec, node, bound);
    }
    if (*value > spec->high) {
        snprintf(bound, sizeof bound, "a number <= %g", spec->high);
        return fail_bound(doc, spec, node, bound);
    }
    return ERR_OK;
}

/* ---- text forms -------------------------------------------------------- */

/* What to suggest for a value that is not a duration: a missing or an ambiguous unit. */
static const char *duration_hint(const char *text)
{
    size_t digits = strspn(text, "0123456789");
    if (digits > 0 && text[digits] == '\0')
        return "add a unit: ms, s, min, h or d";
    if (digits > 0 && strcmp(text + digits, "m") == 0)
        return "\"m\" is ambiguous (minutes or months?): write min for minutes";
    return NULL;
}

static int convert_duration(const Document *doc, const KeySpec *spec, const Node *node,
                            int64_t *value)
{
    if (!values_parse_duration(node->value, value))
        return fields_fail_expected(doc, spec, node, duration_hint(node->value));
    if (*value < spec->min)
        return fail_bound(doc, spec, node, "a duration > 0");
    if (*value > spec->max) {
        char bound[64];
        snprintf(bound, sizeof bound, "a duration of at most %" PRId64 "ms", spec->max);
        return fail_bound(doc, spec, node, bound);
    }
    return ERR_OK;
}

static int convert_bytes(const Document *doc, const KeySpec *spec, const Node *node, int64_t *value)
{
    if (!values_byte_size(node->value, value) || *value < spec->min || *value > spec->max)
        return fields_fail_expected(doc, spec, node, NULL);
    return ERR_OK;
}

static int convert_enum(const Document *doc, const KeySpec *spec, const Node *node, int *value)
{
    for (const Choice *c = spec->choices; c->name != NULL; c++) {
        if (strcmp(node->value, c->name) == 0) {
            *value = c->value;
            return ERR_OK;
        }
    }
    return fields_fail_expected(doc, spec, node, NULL);
}

/* The message for a ${VAR} reference that cannot be expanded. */
static int fail_expansion(const Document *doc, const KeySpec *spec, const Node *node,
                          ExpandStatus status, const ExpandProblem *problem)
{
    char shown[QUOTE_BUFFER];
    if (status == EXPAND_NO_MEMORY)
        return error_nomem(doc->err, problem->bytes);
    if (status == EXPAND_UNTERMINATED)
        return message_fail(doc, node->mark, spec->path, "write $$ for a literal $",
                            "unterminated \"${\" in \"%s\", expected ${NAME} or ${NAME:-default}",
                            message_quote(shown, node->value, node->length));
    if (status == EXPAND_BAD_NAME)
        return message_fail(doc, node->mark, spec->path, "write $$ for a literal $",
                            "invalid variable reference \"%s\", expected ${NAME} or "
                            "${NAME:-default} with NAME from A-Z, a-z, 0-9 and '_'",
                            message_quote(shown, node->value + problem->start, problem->length));
    char hint[600];
    snprintf(hint, sizeof hint, "set %s in the environment, or write ${%s:-default}", problem->name,
             problem->name);
    return message_fail(doc, node->mark, spec->path, hint, "environment variable \"%s\" is not set",
                        problem->name);
}

/* An expanded string the key cannot take: empty, or not a job name. */
static int check_string(const Document *doc, const KeySpec *spec, const Node *node,
                        const char *value)
{
    char form[FORM_BUFFER], got[QUOTE_BUFFER];
    if (value[0] == '\0')
        return message_fail(doc, node->mark, spec->path, NULL, "expected %s, got an empty string",
                            fields_describe_form(spec, form));
    if (spec->type == KEY_NAME && !values_is_job_name(value))
        return message_fail(doc, node->mark, spec->path, NULL, "expected %s, got \"%s\"",
                            fields_describe_form(spec, form),
                            message_quote(got, value, strlen(value)));
    return ERR_OK;
}

static int store_string(const Document *doc, const KeySpec *spec, const Node *node, char **field)
{
    ExpandProblem problem;
    char *value = NULL;
    ExpandStatus status = values_expand(node->value, &value, &problem);
    if (status != EXPAND_OK)
        return fail_expansion(doc, spec, node, status, &problem);
    if (value[0] == '\0' && (spec->flags & KEY_EMPTY_IS_UNSET)) {
        free(value);
        value = NULL;
    } else {
        int code = check_string(doc, spec, node, value);
        if (code != ERR_OK) {
            free(value);
            return code;
        }
    }
    free(*field);
    *field = value;
    return ERR_OK;
}

/* ---- strategy.by ------------------------------------------------------- */

static bool all_scalars(const Node *sequence)
{
    for (size_t i = 0; i < sequence->count; i++)
        if (sequence->children[i]->kind != NODE_SCALAR)
            return false;
    return true;
}

/* A sequence as "[a, b, ...]", cut after QUOTE_MAX bytes. buf holds QUOTE_BUFFER + 8. */
static const char *describe_list(const Node *sequence, char *buf)
{
    const size_t size = QUOTE_BUFFER + 8;
    size_t used = 1;
    buf[0] = '[';
    buf[1] = '\0';
    for (size_t i = 0; i < sequence->count && used < QUOTE_MAX; i++) {
        const Node *item = sequence->children[i];
        char shown[QUOTE_BUFFER];
        used += (size_t)snprintf(
            buf + used, size - used, "%s%s", i > 0 ? ", " : "",
            item->kind == NODE_SCALAR ? message_quote(shown, item->value, item->length) : "...");
    }
    if (used < QUOTE_MAX)
        snprintf(buf + used, size - used, "]");
    else
        snprintf(buf + QUOTE_MAX, size - QUOTE_MAX, "...]");
    return buf;
}

/* strategy.by: a name, or a list; [embedding, score] is the one list. */
static int convert_strategy(const Document *doc, const KeySpec *spec, const Node *node, int *value)
{
    if (node->kind == NODE_SCALAR && !tree_is_null(node))
        return convert_enum(doc, spec, node, value);
    if (node->kind != NODE_SEQUENCE)
        return fields_fail_expected(doc, spec, node, NULL);

    bool scalars = all_scalars(node);
    if (scalars && node->count == 2 && strcmp(node->children[0]->value, "embedding") == 0
        && strcmp(node->children[1]->value, "score") == 0) {
        *value = STRATEGY_EMBEDDING_SCORE;
        return ERR_OK;
    }
    const char *hint = node->count == 1 && scalars
                           ? "write a single strategy without brackets, e.g. by: score"
                           : "the one list is [embedding, score]: k-means clusters, then score "
                             "bins inside each cluster";
    char form[FORM_BUFFER], list[QUOTE_BUFFER + 8];
    return message_fail(doc, node->mark, spec->path, hint, "expected %s, got %s",
                        fields_describe_form(spec, form), describe_list(node, list));
}

/* ---- storing ----------------------------------------------------------- */

static int store_int(const Document *doc, const KeySpec *spec, const Node *node, int *field)
{
    int64_t value = 0;
    int code = convert_integer(doc, spec, node, &value);
    if (code == ERR_OK)
        *field = (int)value; /* the table's ranges fit an int */
    return code;
}

static int store_optional_uint64(const Document *doc, JobConfig *config, const KeySpec *spec,
                                 const Node *node)
{
    uint64_t value = 0;
    int code = convert_unsigned(doc, spec, node, &value);
    if (code == ERR_OK && spec->max > 0 && value > (uint64_t)spec->max)
        return fields_fail_expected(doc, spec, node, NULL);
    if (code == ERR_OK) {
        *(uint64_t *)schema_field(config, spec) = value;
        *(bool *)((char *)config + spec->set_offset) = true;
    }
    return code;
}

static int store_optional_double(const Document *doc, const KeySpec *spec, const Node *node,
                                 OptionalDouble *field)
{
    int code = convert_double(doc, spec, node, &field->value);
    if (code == ERR_OK)
        field->set = true;
    return code;
}

/* Enum fields are written through an int (keys.c checks they are one). */
static int store_enum(const Document *doc, const KeySpec *spec, const Node *node, void *field)
{
    int value = 0;
    int code = spec->type == KEY_STRATEGY_LIST ? convert_strategy(doc, spec, node, &value)
                                               : convert_enum(doc, spec, node, &value);
    if (code == ERR_OK)
        memcpy(field, &value, sizeof value);
    return code;
}

static int store_date(const Document *doc, const KeySpec *spec, const Node *node, DateBound *field)
{
    DateBound bound = {0};
    if (!values_date(node->value, &bound))
        return fields_fail_expected(doc, spec, node, NULL);
    *field = bound;
    return ERR_OK;
}

/* A scalar that is not null and holds no NUL, by the key's type. */
static int store_scalar(const Document *doc, JobConfig *config, const KeySpec *spec,
                        const Node *node)
{
    void *field = schema_field(config, spec);
    switch (spec->type) {
    case KEY_STRING:
    case KEY_NAME:
        return store_string(doc, spec, node, field);
    case KEY_INT:
        return store_int(doc, spec, node, field);
    case KEY_INT64:
        return convert_integer(doc, spec, node, field);
    case KEY_OPTIONAL_UINT64:
        return store_optional_uint64(doc, config, spec, node);
    case KEY_DOUBLE:
        return convert_double(doc, spec, node, field);
    case KEY_OPTIONAL_DOUBLE:
        return store_optional_double(doc, spec, node, field);
    case KEY_DURATION:
        return convert_duration(doc, spec, node, field);
    case KEY_BYTES:
        return convert_bytes(doc, spec, node, field);
    case KEY_ENUM:
        return store_enum(doc, spec, node, field);
    case KEY_DATE:
        return store_date(doc, spec, node, field);
    case KEY_SECTION:
    case KEY_STRATEGY_LIST:
        break;
    }
    return error_set(doc->err, ERR_INTERNAL, "bug: %s has no conversion", spec->path);
}

/* A null value: unsets a string that allows it, else asks for a value. */
static int store_null(const Document *doc, JobConfig *config, const KeySpec *spec, const Node *node)
{
    if (spec->flags & KEY_EMPTY_IS_UNSET) {
        char **field = schema_field(config, spec);
        free(*field);
        *field = NULL;
        return ERR_OK;
    }
    return fields_fail_expected(
        doc, spec, node, (spec->flags & KEY_REQUIRED) ? NULL : "give a value, or remove the key");
}

int fields_store(const Document *doc, JobConfig *config, const KeySpec *spec, const Node *node)
{
    if (spec->type == KEY_STRATEGY_LIST)
        return store_enum(doc, spec, node, schema_field(config, spec));
    if (node->kind != NODE_SCALAR)
        return fields_fail_expected(doc, spec, node, NULL);
    if (memchr(node->value, '\0', node->length) != NULL) {
        char form[FORM_BUFFER];
        return message_fail(doc, node->mark, spec->path, NULL,
                            "expected %s, got a value holding a NUL character",
                            fields_describe_form(spec, form));
    }
    if (tree_is_null(node))
        return store_null(doc, config, spec, node);
    return store_scalar(doc, config, spec, node);
}
