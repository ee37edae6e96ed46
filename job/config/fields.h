/*
 * fields: one YAML value into the JobConfig field its key names, converted
 * by the key's type and checked against its range, or an ERR_CONFIG message
 * at the value's line and column: "PATH: expected FORM, got WHAT", with a
 * hint where the slip is a common one (a quoted number, a duration without
 * a unit, "m" for minutes).
 *
 * Numbers must be plain (unquoted) scalars: in YAML "10" is a string, and a
 * quoted number is more often a templating slip than intent, so it is
 * refused with a hint rather than silently converted. Durations, byte sizes,
 * dates and enum names are text forms anyway and may be quoted or not.
 *
 * It reads text through values.h and does not walk the tree (keys.h). A
 * string field it fills is owned by the JobConfig; the one it replaces is
 * freed.
 */
#ifndef PAIRPICK_CONFIG_FIELDS_H
#define PAIRPICK_CONFIG_FIELDS_H

#include "config/job.h"
#include "config/schema.h"
#include "config/tree.h"

/* What fields_describe_form writes at most, its NUL included. */
#define FORM_BUFFER 256

/* The form a key expects, as said after "expected": buf or a constant. */
const char *fields_describe_form(const KeySpec *spec, char *buf);

/* "PATH: expected FORM, got WHAT" at the node, with hint when not NULL. */
int fields_fail_expected(const Document *doc, const KeySpec *spec, const Node *node,
                         const char *hint);

/* Converts node by spec and stores it in config. */
int fields_store(const Document *doc, JobConfig *config, const KeySpec *spec, const Node *node);

#endif
