/* examples/embedding.c - the README's embedding example, built and run by
 * ctest so the README cannot drift from the API. */
#include <rcgc.h>
#include <stdio.h>

/* A host object: rcgc's header first, then the host's fields. */
struct pair {
    rcgc_object head;
    rcgc_object *left, *right;
};

/* What the cycle collector needs: the references it holds... */
static void pair_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct pair *p = (struct pair *)self;
    if (p->left != NULL)
        visit(p->left, arg);
    if (p->right != NULL)
        visit(p->right, arg);
}

/* ...and how to drop them (at death, and to break a garbage cycle). */
static void pair_clear(rcgc_object *self) {
    struct pair *p = (struct pair *)self;
    rcgc_object *left = p->left, *right = p->right;
    p->left = p->right = NULL;
    rcgc_xdecref(left);
    rcgc_xdecref(right);
}

static const rcgc_type pair_type = {.name = "pair",
                                    .size = sizeof(struct pair),
                                    .flags = RCGC_TYPE_GC,
                                    .traverse = pair_traverse,
                                    .clear = pair_clear,
                                    .freelist_max = 64};

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

    /* A cycle: the pair holds itself, so its count never reaches zero. */
    struct pair *loop = (struct pair *)rcgc_new(&pair_type);
    if (loop == NULL)
        return 1;
    loop->left = &loop->head; /* takes over our reference */
    rcgc_incref(&loop->head);
    loop->right = &loop->head;
    printf("collected %td\n", rcgc_collect(2)); /* 1: the collector frees it */
    rcgc_thread_detach();
    return 0;
}
