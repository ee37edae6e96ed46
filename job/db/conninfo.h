/*
 * conninfo: what pairpick may say about a connection string, as libpq reads
 * it. The text is parsed with libpq's own parser (PQconninfoParse), so
 * every spelling libpq accepts is covered: key = 'value' with spaces and
 * escapes, values on their own lines, URIs with user:password@, ?password=
 * and percent-encoded keys or values.
 *
 * It never connects. Strings it returns are malloc'd; the caller frees them.
 */
#ifndef PAIRPICK_CONNINFO_H
#define PAIRPICK_CONNINFO_H

#include <stdbool.h>

#include "core/error.h"

/*
 * Whether libpq reads `text` as a connection string (key=value or a
 * postgres:// URI) rather than as a plain database name.
 */
bool db_conninfo_is_string(const char *text);

/*
 * The conninfo with the value of every secret keyword (those libpq marks
 * secret: password, sslpassword, and any a later libpq adds) replaced by
 * "***", rebuilt as key='value' pairs in libpq's order. A plain database
 * name comes back as it is; text libpq cannot parse comes back as a fixed
 * placeholder, since it may hold a secret in a place the parser did not
 * reach. malloc'd; NULL when memory runs out. Matches config_to_json's
 * mask function.
 */
char *db_mask_conninfo(const char *conninfo);

/*
 * ERR_OK when libpq can use conninfo (NULL or "": the PG* variables);
 * otherwise ERR_CONFIG with libpq's complaint, its quoted fragments
 * removed (they may be part of a password), and a hint. Also refuses a
 * port that is not a number from 1 to 65535, which libpq would only find
 * when it connects.
 */
int db_check_conninfo(const char *conninfo, Error *err);

#endif
