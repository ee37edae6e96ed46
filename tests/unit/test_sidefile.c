/* Unit tests of side files: published whole or not at all, never through a
 * planted symlink, never over a device or other non-regular file, a failed
 * write (a full disk, here the file size limit) an error that leaves the
 * previous file as it was, and no temporary file left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/sidefile.h"

static char folder[] = "/tmp/pairpick-sidefile-XXXXXX";

static int make_folder(void **state)
{
    (void)state;
    strcpy(folder + strlen(folder) - 6, "XXXXXX");
    return mkdtemp(folder) != NULL ? 0 : -1;
}

static int remove_folder(void **state)
{
    (void)state;
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", folder);
    return system(command) == 0 ? 0 : -1;
}

static char *path_in(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", folder, name);
    return path;
}

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    assert_int_equal(fclose(file), 0);
}

static char *read_text(const char *path)
{
    static char text[4096];
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return NULL;
    size_t length = fread(text, 1, sizeof text - 1, file);
    text[length] = '\0';
    fclose(file);
    return text;
}

/* The entries of the folder: a failed or finished write leaves no temporary file. */
static int entries(void)
{
    DIR *dir = opendir(folder);
    int count = 0;
    for (struct dirent *entry; (entry = readdir(dir)) != NULL;)
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            count++;
    closedir(dir);
    return count;
}

static void test_commit_replaces_whole_file(void **state)
{
    (void)state;
    char path[256];
    Error err;
    snprintf(path, sizeof path, "%s", path_in("out.json"));
    write_text(path, "old\n");
    SideFile *file = sidefile_open(path, "xcom file", &err);
    assert_non_null(file);
    fputs("new\n", sidefile_stream(file));
    assert_string_equal(read_text(path), "old\n"); /* nothing visible before commit */
    assert_int_equal(sidefile_commit(file, &err), ERR_OK);
    assert_string_equal(read_text(path), "new\n");
    assert_int_equal(entries(), 1);
}

static void test_abandon_keeps_previous_file(void **state)
{
    (void)state;
    char path[256];
    Error err;
    snprintf(path, sizeof path, "%s", path_in("rejects.csv"));
    write_text(path, "id,reason\ncomplete\n");
    SideFile *file = sidefile_open(path, "rejects file", &err);
    assert_non_null(file);
    fputs("id,reason\npart", sidefile_stream(file));
    assert_int_equal(sidefile_finish(file, &err), ERR_OK);
    sidefile_abandon(file);
    assert_string_equal(read_text(path), "id,reason\ncomplete\n");
    assert_int_equal(entries(), 1);
}

static void test_non_regular_destinations_refused(void **state)
{
    (void)state;
    Error err;
    /* Only checked, never written: the real device nodes are safe to name. */
    const char *refused[] = {"/dev/full", "/dev/null", "/dev/stdout", folder};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s", refused[i]);
        assert_int_equal(sidefile_check(path, "metrics file", &err), ERR_USAGE);
        assert_null(sidefile_open(path, "metrics file", &err));
        assert_int_equal(err.code, ERR_USAGE);
        assert_non_null(strstr(err.message, "cannot write metrics file '"));
    }
    /* a symlink at the destination is not followed to its target */
    char target[256], link_path[256];
    snprintf(target, sizeof target, "%s", path_in("target"));
    snprintf(link_path, sizeof link_path, "%s", path_in("link.prom"));
    write_text(target, "keep\n");
    assert_int_equal(symlink(target, link_path), 0);
    assert_null(sidefile_open(link_path, "metrics file", &err));
    assert_string_equal(read_text(target), "keep\n");
    unlink(link_path);
    unlink(target);
}

static void test_missing_folder_reported(void **state)
{
    (void)state;
    Error err;
    char path[256];
    snprintf(path, sizeof path, "%s", path_in("no/such/labels.csv"));
    assert_int_equal(sidefile_check(path, "labels file", &err), ERR_USAGE);
    assert_non_null(strstr(err.message, "cannot write labels file '"));
    assert_non_null(strstr(err.message, "no/such"));
}

/* Symlinks planted at every name of the old fixed form, and a fresh random one each time. */
static void test_planted_symlinks_not_followed(void **state)
{
    (void)state;
    Error err;
    char path[256], target[256], planted[300];
    snprintf(path, sizeof path, "%s", path_in("labels.csv"));
    snprintf(target, sizeof target, "%s", path_in("victim"));
    write_text(target, "victim\n");
    snprintf(planted, sizeof planted, "%s.tmp", path);
    assert_int_equal(symlink(target, planted), 0);
    snprintf(planted, sizeof planted, "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(symlink(target, planted), 0);
    SideFile *file = sidefile_open(path, "labels file", &err);
    assert_non_null(file);
    fputs("id,label\n", sidefile_stream(file));
    assert_int_equal(sidefile_commit(file, &err), ERR_OK);
    assert_string_equal(read_text(target), "victim\n");
    assert_string_equal(read_text(path), "id,label\n");
    struct stat info;
    assert_int_equal(lstat(path, &info), 0);
    assert_true(S_ISREG(info.st_mode));
}

/* A write that fails (the file size limit stands in for a full disk). */
static void test_failed_write_is_an_error(void **state)
{
    (void)state;
    Error err;
    char path[256];
    snprintf(path, sizeof path, "%s", path_in("big.csv"));
    write_text(path, "complete\n");
    struct rlimit saved, small = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
    getrlimit(RLIMIT_FSIZE, &saved);
    small.rlim_max = saved.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    SideFile *file = sidefile_open(path, "rejects file", &err);
    assert_non_null(file);
    for (int i = 0; i < 2000; i++)
        fprintf(sidefile_stream(file), "row-%d,bad_score\n", i);
    int code = sidefile_commit(file, &err);
    setrlimit(RLIMIT_FSIZE, &saved);
    assert_int_equal(code, ERR_IOERR);
    assert_non_null(strstr(err.message, "cannot write rejects file '"));
    assert_string_equal(read_text(path), "complete\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_replaces_whole_file, make_folder, remove_folder),
        cmocka_unit_test_setup_teardown(test_abandon_keeps_previous_file, make_folder, remove_folder),
        cmocka_unit_test_setup_teardown(test_non_regular_destinations_refused, make_folder,
                                        remove_folder),
        cmocka_unit_test_setup_teardown(test_missing_folder_reported, make_folder, remove_folder),
        cmocka_unit_test_setup_teardown(test_planted_symlinks_not_followed, make_folder,
                                        remove_folder),
        cmocka_unit_test_setup_teardown(test_failed_write_is_an_error, make_folder, remove_folder),
    };
    return cmocka_run_group_tests_name("sidefile", tests, NULL, NULL);
}
