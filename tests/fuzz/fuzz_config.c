/*
 * libFuzzer target: the config parser on arbitrary bytes. Any outcome is
 * fine except a crash, an over-read, undefined behaviour or a leak: a
 * failure must fill the error record with a message, and a success must
 * give a JobConfig that the run record's JSON can be made from and that
 * config_free releases whole.
 *
 * Built by `make fuzz` (tests/mk/fuzz.mk) with clang
 * -fsanitize=fuzzer,address,undefined; seeds in tests/fuzz/corpus/config/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/error.h"
#include "db/conninfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    JobConfig *config = NULL;
    Error err;
    error_clear(&err);
    int code = config_parse("fuzz.yaml", (const char *)data, size, &config, &err);
    if (code == ERR_OK) {
        if (config == NULL || config->job == NULL || config->source.id == NULL)
            abort(); /* success without the required keys */
        char *json = config_to_json(config, db_mask_conninfo);
        free(json);
        config_free(config);
    } else {
        /* Failure: no config handed out, a code and a message set. */
        if (config != NULL || err.code != code || err.message[0] == '\0'
            || memchr(err.message, '\0', sizeof err.message) == NULL)
            abort();
    }
    return 0;
}
