/* Unit tests of the contact sheet's path rules: an image file counts as
 * inside source.image_root only below it on a path-component boundary, and
 * the relative links sample makes lead from a category folder to the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "run/sample.h"

static void test_inside_root_on_a_component_boundary(void **state)
{
    (void)state;
    assert_true(sample_path_inside("/data/img", "/data/img/a.jpg"));
    assert_true(sample_path_inside("/data/img", "/data/img/sub/a.jpg"));
    /* a sibling whose name starts like the root is outside */
    assert_false(sample_path_inside("/data/img", "/data/img2/a.jpg"));
    assert_false(sample_path_inside("/data/img", "/data/imga.jpg"));
    /* the root itself is not a file in it; neither is its parent */
    assert_false(sample_path_inside("/data/img", "/data/img"));
    assert_false(sample_path_inside("/data/img", "/data/img/"));
    assert_false(sample_path_inside("/data/img", "/data"));
    assert_false(sample_path_inside("/data/img", "/etc/shadow"));
    /* the filesystem root holds every absolute path but itself */
    assert_true(sample_path_inside("/", "/etc/shadow"));
    assert_false(sample_path_inside("/", "/"));
}

static void expect_relative(const char *from, const char *to, const char *expected)
{
    char *path = sample_relative_path(from, to);
    assert_non_null(path);
    assert_string_equal(path, expected);
    free(path);
}

static void test_relative_paths_lead_from_the_folder_to_the_file(void **state)
{
    (void)state;
    expect_relative("/a/sheet/c", "/a/img/x.jpg", "../../img/x.jpg");
    expect_relative("/a/sheet/c", "/a/sheet/c/x.jpg", "x.jpg");
    expect_relative("/a/sheet/c", "/a/sheet/cc/x.jpg", "../cc/x.jpg");
    expect_relative("/a/sheet/cc", "/a/sheet/c/x.jpg", "../c/x.jpg");
    expect_relative("/srv/www/sheet/cluster-3", "/data/img/1.svg",
                    "../../../../data/img/1.svg");
    expect_relative("/", "/data/x.svg", "data/x.svg");
    expect_relative("/x", "/y/z.svg", "../y/z.svg");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inside_root_on_a_component_boundary),
        cmocka_unit_test(test_relative_paths_lead_from_the_folder_to_the_file),
    };
    return cmocka_run_group_tests_name("sample", tests, NULL, NULL);
}
