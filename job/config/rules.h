/*
 * rules: the checks that relate several keys, run once the whole file has
 * been walked: source.table xor source.query, min <= max, from <= to, last
 * or from/to, the source columns a filter or a strategy reads, and the
 * rules of a stored cluster model (strategy.clusters_from). Each message
 * points at the key that breaks the rule, using the marks the walk kept.
 *
 * Single keys (type, range, required) are keys.h's and fields.h's.
 * rules_check reads the JobConfig and changes nothing; rules_apply_defaults
 * fills in the defaults that depend on another key.
 */
#ifndef PAIRPICK_CONFIG_RULES_H
#define PAIRPICK_CONFIG_RULES_H

#include "config/keys.h"

/*
 * The defaults that depend on another key, for keys the file does not set:
 * strategy.prefer is informative with strategy.by: score (the policy that
 * teaches the model most per comparison in the closed-loop benchmark,
 * docs/algorithms.md) and random with every other strategy (the schema's
 * default). Call after keys_walk and before rules_check.
 */
void rules_apply_defaults(KeyWalk *walk);

/* ERR_CONFIG, with the message, for the first rule the config breaks. */
int rules_check(const KeyWalk *walk);

#endif
