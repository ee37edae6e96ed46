#include "core/sidefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct SideFile {
    char *path;
    char *temp;
    char *what;
    FILE *stream; /* NULL once closed */
    bool finished;
};

/* How many random names to try before giving up on EEXIST. */
#define TEMP_ATTEMPTS 64

/* Room for a message detail that quotes a path. */
#define PATH_MAX_DETAIL 1200

/* "labels file 'PATH'" or "'PATH'": the subject of every message. */
static int fail(Error *err, int code, const char *what, const char *path, const char *detail)
{
    return error_set(err, code, "cannot write %s%s'%s': %s", what != NULL ? what : "",
                     what != NULL ? " " : "", path, detail);
}

/* The folder of path ("." for a bare name), allocated. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int sidefile_check(const char *path, const char *what, Error *err)
{
    char detail[PATH_MAX_DETAIL];
    struct stat info;
    if (path[0] == '\0')
        return fail(err, ERR_USAGE, what, path, "empty path");
    if (path[strlen(path) - 1] == '/')
        return fail(err, ERR_USAGE, what, path, "a folder, not a file");
    char *folder = folder_of(path);
    if (folder == NULL)
        return error_nomem(err, strlen(path));
    int code = ERR_OK;
    if (stat(folder, &info) != 0) {
        snprintf(detail, sizeof detail, "folder '%s': %s", folder, strerror(errno));
        code = fail(err, ERR_USAGE, what, path, detail);
    } else if (!S_ISDIR(info.st_mode)) {
        snprintf(detail, sizeof detail, "'%s' is not a folder", folder);
        code = fail(err, ERR_USAGE, what, path, detail);
    } else if (access(folder, W_OK | X_OK) != 0) {
        snprintf(detail, sizeof detail, "folder '%s': %s", folder, strerror(errno));
        code = fail(err, ERR_USAGE, what, path, detail);
    } else if (lstat(path, &info) == 0 && !S_ISREG(info.st_mode)) {
        code = fail(err, ERR_USAGE, what, path,
                    "it exists and is not a regular file (a device, a symlink, a folder or a "
                    "pipe); a side file only replaces a regular file");
    }
    free(folder);
    return code;
}

/* A name no other process picks at the same moment; O_EXCL settles any clash. */
static void random_suffix(char *suffix, size_t length, unsigned attempt)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t state = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)now.tv_sec
                     ^ ((uint64_t)getpid() << 40) ^ ((uint64_t)attempt * 0x9e3779b97f4a7c15ULL)
                     ^ (uint64_t)(uintptr_t)suffix;
    for (size_t i = 0; i < length; i++) {
        state ^= state >> 33;
        state *= 0xff51afd7ed558ccdULL;
        state ^= state >> 29;
        suffix[i] = alphabet[state % (sizeof alphabet - 1)];
    }
    suffix[length] = '\0';
}

static void sidefile_free(SideFile *file)
{
    free(file->path);
    free(file->temp);
    free(file->what);
    free(file);
}

SideFile *sidefile_open(const char *path, const char *what, Error *err)
{
    if (sidefile_check(path, what, err) != ERR_OK)
        return NULL;
    SideFile *file = calloc(1, sizeof *file);
    size_t temp_size = strlen(path) + sizeof ".tmp-XXXXXX";
    if (file == NULL || (file->path = strdup(path)) == NULL
        || (what != NULL && (file->what = strdup(what)) == NULL)
        || (file->temp = malloc(temp_size)) == NULL) {
        if (file != NULL)
            sidefile_free(file);
        error_nomem(err, temp_size);
        return NULL;
    }
    int fd = -1;
    for (unsigned attempt = 0; fd < 0 && attempt < TEMP_ATTEMPTS; attempt++) {
        char suffix[7];
        random_suffix(suffix, 6, attempt);
        snprintf(file->temp, temp_size, "%s.tmp-%s", path, suffix);
        /* Mode 0666 less the umask, as fopen would create it. */
        fd = open(file->temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0 || (file->stream = fdopen(fd, "w")) == NULL) {
        int saved = errno;
        fail(err, saved == ENOSPC || saved == EIO || saved == EDQUOT ? ERR_IOERR : ERR_USAGE,
             what, path, strerror(saved));
        if (fd >= 0) {
            close(fd);
            unlink(file->temp);
        }
        sidefile_free(file);
        return NULL;
    }
    return file;
}

FILE *sidefile_stream(const SideFile *file)
{
    return file->stream;
}

int sidefile_finish(SideFile *file, Error *err)
{
    if (file->finished)
        return ERR_OK;
    if (file->stream == NULL)
        return fail(err, ERR_IOERR, file->what, file->path, "already failed");
    /* errno of the first failed write is gone by now; fflush reports its own. */
    int failed_errno = 0;
    bool stream_error = ferror(file->stream) != 0;
    errno = 0;
    if (fflush(file->stream) != 0 || stream_error)
        failed_errno = errno != 0 ? errno : EIO;
    else if (fsync(fileno(file->stream)) != 0)
        failed_errno = errno;
    int closed = fclose(file->stream);
    file->stream = NULL;
    if (failed_errno == 0 && closed != 0)
        failed_errno = errno;
    if (failed_errno != 0) {
        unlink(file->temp);
        return fail(err, ERR_IOERR, file->what, file->path, strerror(failed_errno));
    }
    file->finished = true;
    return ERR_OK;
}

/* Makes the rename durable; a folder that cannot be synced is not an error. */
static void sync_folder(const char *path)
{
    char *folder = folder_of(path);
    if (folder == NULL)
        return;
    int fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(folder);
}

int sidefile_commit(SideFile *file, Error *err)
{
    int code = sidefile_finish(file, err);
    struct stat info;
    if (code != ERR_OK) {
        sidefile_free(file);
        return code;
    }
    if (lstat(file->path, &info) == 0 && !S_ISREG(info.st_mode)) {
        code = fail(err, ERR_USAGE, file->what, file->path,
                    "it exists and is not a regular file (a device, a symlink, a folder or a "
                    "pipe); a side file only replaces a regular file");
    } else if (rename(file->temp, file->path) != 0) {
        char detail[PATH_MAX_DETAIL];
        snprintf(detail, sizeof detail, "cannot rename '%s': %s", file->temp, strerror(errno));
        code = fail(err, ERR_IOERR, file->what, file->path, detail);
    }
    if (code != ERR_OK)
        unlink(file->temp);
    else
        sync_folder(file->path);
    sidefile_free(file);
    return code;
}

void sidefile_abandon(SideFile *file)
{
    if (file == NULL)
        return;
    if (file->stream != NULL)
        fclose(file->stream);
    unlink(file->temp);
    sidefile_free(file);
}
