/*
 * ident: SQL identifiers from the config, quoted before any SQL is built.
 * A name may be schema-qualified ("schema.table", or "\"odd.schema\".table");
 * it is split first and each part is quoted on its own, through a
 * QuoteIdentFn: db_quote_ident (PQescapeIdentifier) at run time,
 * ident_quote_offline where there is no connection (explain, tests).
 *
 * Pure text: no connection of its own. Returned strings are malloc'd and the
 * caller's.
 */
#ifndef PAIRPICK_IDENT_H
#define PAIRPICK_IDENT_H

#include "core/error.h"

/* Quotes one identifier; returns malloc'd text, or NULL with err set. */
typedef char *(*QuoteIdentFn)(void *context, const char *ident, Error *err);

/*
 * Quotes a possibly schema-qualified name part by part with quote.
 * ERR_CONFIG for an empty part, more than two parts or an open quote.
 */
char *ident_quote_name(const char *name, QuoteIdentFn quote, void *quote_context, Error *err);

/*
 * Standard SQL identifier quoting (what PQescapeIdentifier produces for
 * UTF-8 text), for use without a connection. context is unused.
 */
char *ident_quote_offline(void *context, const char *ident, Error *err);

#endif
