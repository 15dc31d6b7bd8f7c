/* examples/demo_leaks.c - the demo's leak hunting: seed 003's objgraph
 * picture of a reference cycle (rcgc_show_refs, drawn by Graphviz when it
 * is installed), a leak found by the growth of a type and the chain that
 * keeps it alive (rcgc_show_growth, rcgc_find_backref_chain), and seed
 * 004's tracemalloc top ten by line.
 *
 * Built with RCGC_TRACE_SITES: every rcgc_new and rcgc_malloc in this
 * file records its file and line for the tracer.
 */
#define RCGC_TRACE_SITES 1
#include "demo_leaks.h"
#include "model.h"

#include <rcgc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------- Seed 003 */

/* objgraph's extra_info: an int's value, a list's length. */
static void describe(rcgc_object *obj, char *buf, size_t size, void *arg) {
    (void)arg;
    if (obj->ob_type == &model_int_class.type)
        snprintf(buf, size, "%ld", model_int_value(obj));
    else if (obj->ob_type == &model_list_class.type)
        snprintf(buf, size, "len %zu", model_list_len(obj));
}

static int show_seed_003_picture(void) {
    printf("\n15. Seed 003's picture: a = [1, 2, 3]; b = [4, 5, 6]; a.append(b); b.append(a); "
           "objgraph.show_refs([a])\n");
    rcgc_object *a = model_list_new(), *b = model_list_new();
    if (a == NULL || b == NULL)
        return 1;
    for (long i = 1; i <= 3; i++) {
        rcgc_object *x = model_int_new(i), *y = model_int_new(i + 3);
        if (x == NULL || y == NULL || model_list_append(a, x) != 0 || model_list_append(b, y) != 0)
            return 1;
        rcgc_decref(x);
        rcgc_decref(y);
    }
    if (model_list_append(a, b) != 0 || model_list_append(b, a) != 0)
        return 1;
    /* Next to the demo's executable, so a run leaves nothing in the
     * directory it was started from. */
    char dir[4096], dot_path[4200], svg_path[4200], command[8600];
    ssize_t length = readlink("/proc/self/exe", dir, sizeof dir - 1);
    dir[length > 0 ? length : 0] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else
        *slash = '\0';
    snprintf(dot_path, sizeof dot_path, "%s/seed003_refs.dot", dir);
    snprintf(svg_path, sizeof svg_path, "%s/seed003_refs.svg", dir);
    FILE *dot = fopen(dot_path, "w");
    if (dot == NULL)
        return 1;
    rcgc_graph_options options = {.label = describe};
    ptrdiff_t nodes = rcgc_show_refs(&a, 1, &options, dot);
    fclose(dot);
    if (nodes < 0)
        return 1;
    printf("   Graph written to %s (%td nodes)\n", dot_path, nodes);
    snprintf(command, sizeof command, "dot -Tsvg '%s' -o '%s'", dot_path, svg_path);
    if (system("command -v dot >/dev/null 2>&1") == 0 && system(command) == 0)
        printf("   drawn with Graphviz: %s\n", command);
    else
        printf("   to draw it, install Graphviz and run: %s\n", command);
    rcgc_decref(a);
    rcgc_decref(b);
    printf("   a and b dropped: the cycle waits for the collector, which frees %td objects\n",
           rcgc_collect(2));
    return 0;
}

/* ------------------------------------------------------------ A leak */

/* A server's per-request object, with a session dict; handle_request
 * forgets to drop it from the registry when the request ends. */
struct client {
    rcgc_object head;
    rcgc_object *session;
};

static void client_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct client *client = (struct client *)self;
    if (client->session != NULL)
        visit(client->session, arg);
}

static void client_clear(rcgc_object *self) {
    struct client *client = (struct client *)self;
    rcgc_object *session = client->session;
    client->session = NULL;
    rcgc_xdecref(session);
}

static const rcgc_type client_type = {.name = "Client",
                                      .size = sizeof(struct client),
                                      .flags = RCGC_TYPE_GC,
                                      .traverse = client_traverse,
                                      .clear = client_clear};

static rcgc_object *registry; /* the host's global: every client ever served */

static int handle_request(long id) {
    struct client *client = (struct client *)rcgc_new(&client_type);
    rcgc_object *number = model_int_new(id);
    if (client == NULL || number == NULL)
        return -1;
    client->session = model_dict_new();
    if (client->session == NULL || model_dict_set(client->session, "id", number) != 0 ||
        model_list_append(registry, &client->head) != 0) /* the leak */
        return -1;
    rcgc_decref(number);
    rcgc_decref(&client->head);
    return 0;
}

static int show_leak_growth_and_chain(void) {
    printf("\n16. A server leaks one Client per request: rcgc_show_growth (objgraph's "
           "show_growth, no collection forced), then rcgc_find_backref_chain\n");
    registry = model_list_new();
    if (registry == NULL)
        return 1;
    for (long id = 0; id < 100; id++) /* warm-up */
        if (handle_request(id) != 0)
            return 1;
    (void)rcgc_get_growth(NULL, 0);
    for (long id = 100; id < 1100; id++)
        if (handle_request(id) != 0)
            return 1;
    printf("   after 1000 more requests, the types that grew:\n");
    if (rcgc_show_growth(stdout, 5) != 0)
        return 1;
    rcgc_object *leaked = model_list_get(registry, 500), *chain[8];
    rcgc_incref(leaked);
    ptrdiff_t length = rcgc_find_backref_chain(leaked, NULL, NULL, 0, chain, 8);
    printf("   why is request 500's Client alive? ");
    for (ptrdiff_t i = 0; i < length; i++) {
        printf("%s<%s %p>", i > 0 ? " -> " : "", chain[i]->ob_type->name, (void *)chain[i]);
        rcgc_decref(chain[i]);
    }
    printf("%s\n", length > 0 ? "  (the first is held by the host itself: the registry global)"
                              : "no chain found");
    printf("   where rcgc's memory is now (rcgc_print_memory_accounting):\n");
    rcgc_memory_accounting accounting;
    if (rcgc_memory_accounting_get(&accounting, RCGC_ACCOUNT_OBJECTS) != 0 ||
        rcgc_print_memory_accounting(stdout, &accounting) != 0)
        return 1;
    rcgc_decref(leaked);
    rcgc_decref(registry);
    registry = NULL;
    return length > 0 ? 0 : 1;
}

/* ------------------------------------------------------------- Seed 004 */

struct number {
    rcgc_object head;
    long value;
};

static const rcgc_type number_type = {.name = "number", .size = sizeof(struct number)};

/* Seed 004's allocate(): return [x for x in range(10000)]. */
static rcgc_object **allocate(size_t count) {
    rcgc_object **numbers = rcgc_malloc(count * sizeof *numbers);
    if (numbers == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        numbers[i] = rcgc_new(&number_type);
        if (numbers[i] == NULL)
            return NULL;
        ((struct number *)numbers[i])->value = (long)i;
    }
    return numbers;
}

static int show_seed_004_top_ten(void) {
    printf("\n17. Seed 004's tracemalloc: start(), allocate(), take_snapshot(), "
           "statistics('lineno')[:10]\n");
    rcgc_trace_options by_line = {.frames = 1};
    if (rcgc_trace_start(&by_line) != 0)
        return 1;
    enum { COUNT = 10000 };
    rcgc_object **numbers = allocate(COUNT);
    char *text = rcgc_malloc(100000); /* something else the host holds */
    rcgc_snapshot *snapshot = rcgc_trace_snapshot();
    if (numbers == NULL || text == NULL || snapshot == NULL)
        return 1;
    memset(text, 'x', 100000);
    if (rcgc_snapshot_print(stdout, snapshot, NULL, RCGC_TRACE_BY_LINE, 10) != 0)
        return 1;
    size_t current, peak;
    rcgc_trace_get_memory(&current, &peak);
    printf("   traced memory: current %zu B, peak %zu B\n", current, peak);
    rcgc_snapshot_free(snapshot);
    rcgc_trace_stop();
    for (size_t i = 0; i < COUNT; i++)
        rcgc_decref(numbers[i]);
    rcgc_free(numbers);
    rcgc_free(text);
    return 0;
}

int show_leak_tools(void) {
    return show_seed_003_picture() != 0 || show_leak_growth_and_chain() != 0 ||
                   show_seed_004_top_ten() != 0
               ? 1
               : 0;
}
