/*
 * rules: the checks that relate several keys, run once the whole file has
 * been walked: source.table xor source.query, min <= max, from <= to, last
 * or from/to, the source columns a filter or a strategy reads, and the
 * rules of a stored cluster model (strategy.clusters_from). Each message
 * points at the key that breaks the rule, using the marks the walk kept.
 *
 * Single keys (type, range, required) are keys.h's and fields.h's. It reads
 * the JobConfig and changes nothing.
 */
#ifndef PAIRPICK_CONFIG_RULES_H
#define PAIRPICK_CONFIG_RULES_H

#include "config/keys.h"

/* ERR_CONFIG, with the message, for the first rule the config breaks. */
int rules_check(const KeyWalk *walk);

#endif
