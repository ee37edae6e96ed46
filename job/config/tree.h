/*
 * tree: a job file's YAML as a tree of nodes, each with its 1-based line and
 * column. Scalars keep their text and whether they were written plain
 * (unquoted), which decides whether they can be null or a number.
 *
 * Reading refuses what a job file never needs and what would make it costly
 * or ambiguous: aliases, tags, a second document, nesting deeper than
 * TREE_MAX_DEPTH, bytes that are not UTF-8. It knows nothing of the keys a
 * job file has: that is keys.h.
 *
 * This is the only place in the program that uses libyaml. tree_read
 * allocates the tree; the caller frees it with tree_free.
 */
#ifndef PAIRPICK_CONFIG_TREE_H
#define PAIRPICK_CONFIG_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "config/document.h"
#include "core/error.h"

#define TREE_MAX_DEPTH 32


/*
 * Reads doc's text (UTF-8; a leading byte order mark is skipped) into a tree.
 * *out is NULL for a stream without a document (empty, or only comments).
 * Returns ERR_CONFIG with a positioned message for a file it refuses.
 */
int tree_read(const Document *doc, Node **out);

/* Frees a node and everything under it; NULL is a no-op. */
void tree_free(Node *node);

/* Whether a node is YAML's null: a plain "", "~", "null", "Null" or "NULL". */
bool tree_is_null(const Node *node);

/*
 * What a node is, for "got ...": "a mapping", "a sequence", "an empty value"
 * or its quoted value. buf holds QUOTE_BUFFER + 2 bytes (message.h).
 */
const char *tree_describe(const Node *node, char *buf);

#endif
