/*
 * main: the process. Makes sure the process cannot hang in OpenBLAS (see
 * blas_defer_threads), keeps stdout and stderr from being taken by
 * a file the run opens, parses the command line (cli), sets up logging and
 * the signal handlers, loads the config, executes the command, and is the
 * one place where an error code becomes the process exit status
 * (sysexits.h; see docs/pairpick.1, EXIT STATUS).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config/config.h"
#include "core/cancel.h"
#include "core/error.h"
#include "core/log.h"
#include "numeric/kmeans.h"

/* The BLAS threads a run may use at most. */
#define BLAS_THREADS_MAX 16

/* Whether blas_defer_threads held OpenBLAS to one thread (it set the count). */
static bool blas_deferred;

/*
 * OpenBLAS starts its thread pool when it is loaded (numeric/blas.c loads
 * it at the first k-means, PCA or distance), one thread per core, and reads
 * OPENBLAS_NUM_THREADS only then. Under a small address-space limit
 * (ulimit -v) a pool thread fails to allocate and exit() waits for it
 * forever. So when no thread count is set, the process sets
 * OPENBLAS_NUM_THREADS=1 here, before any thread exists (setenv is not
 * safe beside other threads): no pool at the load; blas_threads_start
 * raises the count later, only for commands that fit k-means and only
 * when the address space can be had.
 */
static void blas_defer_threads(void)
{
    if (getenv("OPENBLAS_NUM_THREADS") != NULL || getenv("GOTO_NUM_THREADS") != NULL
        || getenv("OMP_NUM_THREADS") != NULL)
        return;
    blas_deferred = setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0;
}

/* The CPUs this process may run on. */
static int usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

/*
 * When blas_defer_threads held OpenBLAS to one thread: k-means gets as many
 * threads as there are usable CPUs (up to BLAS_THREADS_MAX). The pool starts
 * at the process's first k-means, and only when the address space for every
 * thread's work buffer can be reserved then (kmeans_set_threads); otherwise
 * k-means stays single-threaded, which is slower but cannot hang.
 */
static void blas_threads_start(const char *command)
{
    if (!blas_deferred
        || (strcmp(command, "run") != 0 && strcmp(command, "fit") != 0
            && strcmp(command, "sample") != 0))
        return;
    int threads = usable_cpus();
    if (threads > BLAS_THREADS_MAX)
        threads = BLAS_THREADS_MAX;
    if (threads > 1)
        kmeans_set_threads(threads);
}

/*
 * A closed stdin, stdout or stderr would be the descriptor the next open()
 * returns, and a side file would receive the JSON summary or the log. Each
 * closed one is filled with /dev/null opened read-only, so writes to it
 * fail (and are reported as write errors) instead of landing elsewhere.
 */
static void fill_standard_descriptors(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        int opened = open("/dev/null", O_RDONLY);
        if (opened >= 0 && opened != fd) {
            dup2(opened, fd);
            close(opened);
        }
    }
}

/*
 * glibc maps each allocation from 128 KiB up (later: up to the largest one
 * freed) with mmap of its own and unmaps it at free, so every stage's
 * transient arrays (sort orders, category copies, the report's draws) came
 * from fresh pages the kernel had to fault in and zero. The columns and
 * the matrix have mappings of their own (core/images.c); below 32 MiB,
 * freed memory stays with the process and the next stage reuses it.
 */
static void keep_freed_memory(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

int main(int argc, char **argv)
{
    fill_standard_descriptors();
    keep_freed_memory();
    blas_defer_threads();
    cancel_install(); /* before anything is printed: SIGPIPE is ignored from here */
    CliArgs args;
    int code = cli_parse(argc, argv, &args);
    if (code == ERR_OK && args.command == NULL && (fflush(stdout) != 0 || ferror(stdout)))
        return ERR_IOERR; /* --help or --version to a closed pipe */
    if (code != ERR_OK || args.command == NULL)
        return code;

    log_setup(args.log_format, args.log_level, NULL);
    JobConfig *config = NULL;
    Error err;
    error_clear(&err);
    if (config_load(args.config_path, &config, &err) != ERR_OK) {
        log_line("error", NULL, NULL, "%s", err.message);
        return err.code != ERR_OK ? err.code : ERR_INTERNAL;
    }
    log_setup(args.log_format, args.log_level, config->job);
    blas_threads_start(argv[1]);
    code = cli_execute(&args, config);
    config_free(config);
    if (code == ERR_OK && (fflush(stdout) != 0 || ferror(stdout) || log_write_failed()))
        code = ERR_IOERR;
    return code;
}
