/*
 * categorize_links: the neighbouring categories bridges may join. Adjacent
 * score bins; adjacent bins inside one cluster only for [embedding, score];
 * each cluster and its nearest centroid, each link once; none for a
 * category column or without embeddings in memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "run/categorize.h"

static void test_adjacent_score_bins(void **state)
{
    (void)state;
    int32_t category_of[] = {0, 1, 2, 3, 3};
    int32_t group[] = {0, 1, 2, 3}, bin[] = {-1, -1, -1, -1};
    Categories categories = {.category_of = category_of, .count = 4, .group_of_category = group,
                             .bin_of_category = bin, .by = STRATEGY_SCORE};
    Images images = {.count = 5};
    CategoryLink *links;
    size_t count;
    Error err;
    assert_int_equal(categorize_links(&categories, &images, NULL, 0, &links, &count, &err), ERR_OK);
    assert_int_equal(count, 3);
    for (size_t l = 0; l < count; l++) {
        assert_int_equal(links[l].from, (int32_t)l);
        assert_int_equal(links[l].to, (int32_t)l + 1);
    }
    free(links);

    categories.by = STRATEGY_CATEGORY; /* labels have no order */
    assert_int_equal(categorize_links(&categories, &images, NULL, 0, &links, &count, &err), ERR_OK);
    assert_int_equal(count, 0);
    free(links);
}

static void test_bins_inside_one_cluster_only(void **state)
{
    (void)state;
    /* (cluster, bin): (0,0) (0,1) (0,2) (1,0) (1,2) (2,0) */
    int32_t group[] = {0, 0, 0, 1, 1, 2}, bin[] = {0, 1, 2, 0, 2, 0};
    int32_t category_of[] = {0, 1, 2, 3, 4, 5};
    Categories categories = {.category_of = category_of, .count = 6, .group_of_category = group,
                             .bin_of_category = bin, .by = STRATEGY_EMBEDDING_SCORE};
    Images images = {.count = 6};
    CategoryLink *links;
    size_t count;
    Error err;
    assert_int_equal(categorize_links(&categories, &images, NULL, 0, &links, &count, &err), ERR_OK);
    assert_int_equal(count, 2); /* (0,0)-(0,1), (0,1)-(0,2); not across clusters, not 0->2 */
    assert_true(links[0].from == 0 && links[0].to == 1);
    assert_true(links[1].from == 1 && links[1].to == 2);
    free(links);
}

static void test_nearest_centroids_each_link_once(void **state)
{
    (void)state;
    /* clusters around x = 0, 1, 10, 12 (2-d): 0<->1 mutual, 10<->12 mutual */
    float embedding[] = {0, 0, 0, 1, 1, 0, 1, 1, 10, 0, 10, 1, 12, 0, 12, 1};
    int32_t category_of[] = {0, 0, 1, 1, 2, 2, 3, 3};
    int32_t group[] = {0, 1, 2, 3}, bin[] = {-1, -1, -1, -1};
    Categories categories = {.category_of = category_of, .count = 4, .group_of_category = group,
                             .bin_of_category = bin, .by = STRATEGY_EMBEDDING};
    Images images = {.count = 8, .embedding = embedding, .dim = 2};
    CategoryLink *links;
    size_t count;
    Error err;
    assert_int_equal(categorize_links(&categories, &images, NULL, 0, &links, &count, &err), ERR_OK);
    assert_int_equal(count, 2);
    assert_true(links[0].from == 0 && links[0].to == 1);
    assert_true(links[1].from == 2 && links[1].to == 3);
    free(links);

    images.embedding = NULL; /* bounded mode: no embeddings kept */
    assert_int_equal(categorize_links(&categories, &images, NULL, 0, &links, &count, &err), ERR_OK);
    assert_int_equal(count, 0);
    free(links);

    /* A stored model's centres (1-d here) decide instead, embeddings or not:
     * 0 <-> 3 and 1 <-> 2 are the nearest, whatever the members say. */
    float centers[] = {0, 5, 5.5f, 0.5f};
    assert_int_equal(categorize_links(&categories, &images, centers, 1, &links, &count, &err),
                     ERR_OK);
    assert_int_equal(count, 2);
    assert_true(links[0].from == 0 && links[0].to == 3);
    assert_true(links[1].from == 1 && links[1].to == 2);
    free(links);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adjacent_score_bins),
        cmocka_unit_test(test_bins_inside_one_cluster_only),
        cmocka_unit_test(test_nearest_centroids_each_link_once),
    };
    return cmocka_run_group_tests_name("categorize", tests, NULL, NULL);
}
