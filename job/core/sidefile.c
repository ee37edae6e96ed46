#include "core/sidefile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

FILE *sidefile_open(const char *path, char **temp, Error *err)
{
    if (asprintf(temp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
        *temp = NULL;
        error_nomem(err, strlen(path));
        return NULL;
    }
    FILE *file = fopen(*temp, "w");
    if (file == NULL) {
        error_set(err, ERR_USAGE, "cannot write '%s': %s", *temp, strerror(errno));
        free(*temp);
        *temp = NULL;
    }
    return file;
}

int sidefile_commit(FILE *file, char *temp, const char *path, Error *err)
{
    int code = ERR_OK;
    if (fflush(file) != 0 || ferror(file) || fsync(fileno(file)) != 0) {
        code = error_set(err, ERR_USAGE, "cannot write '%s': %s", temp, strerror(errno));
        fclose(file);
    } else if (fclose(file) != 0) {
        code = error_set(err, ERR_USAGE, "cannot write '%s': %s", temp, strerror(errno));
    } else if (rename(temp, path) != 0) {
        code = error_set(err, ERR_USAGE, "cannot rename '%s' to '%s': %s", temp, path,
                         strerror(errno));
    }
    if (code != ERR_OK)
        unlink(temp);
    free(temp);
    return code;
}

void sidefile_abandon(FILE *file, char *temp)
{
    if (file != NULL)
        fclose(file);
    if (temp != NULL)
        unlink(temp);
    free(temp);
}
