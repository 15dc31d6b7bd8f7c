/* examples/embedding.c - the README's embedding example, built and run by
 * ctest so the README cannot drift from the API. */
#include <rcgc.h>
#include <stdio.h>

/* A host object: rcgc's header first, then the host's fields. */
struct pair {
    rcgc_object head;
    rcgc_object *left, *right;
};

static void pair_clear(rcgc_object *self) { /* drop the references it holds */
    struct pair *p = (struct pair *)self;
    rcgc_xdecref(p->left);
    rcgc_xdecref(p->right);
    p->left = p->right = NULL;
}

static const rcgc_type pair_type = {
    .name = "pair", .size = sizeof(struct pair), .clear = pair_clear, .freelist_max = 64};

int main(void) {
    rcgc_thread_attach(); /* before touching objects */

    struct pair *leaf = (struct pair *)rcgc_new(&pair_type);
    struct pair *root = (struct pair *)rcgc_new(&pair_type);
    if (leaf == NULL || root == NULL)
        return 1;             /* errno == ENOMEM */
    root->left = &leaf->head; /* root takes over our reference */
    rcgc_incref(&leaf->head); /* and a second one for us */
    root->right = &leaf->head;
    printf("leaf refcount %zu\n", rcgc_refcount(&leaf->head)); /* 2 */

    rcgc_decref(&root->head); /* root dies; clear drops both references */
    printf("all released\n");
    rcgc_thread_detach();
    return 0;
}
