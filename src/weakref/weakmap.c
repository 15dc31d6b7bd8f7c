/* src/weakref/weakmap.c - weak maps: WeakValueDictionary and
 * WeakKeyDictionary for threads, on liburcu's lock-free hash table.
 *
 * Each entry is itself a weak reference (to its value, or to its key)
 * whose callback takes the entry out of the table: an entry vanishes when
 * its weak side dies, on whichever thread, in whichever way. Readers take
 * no lock: an RCU read-side section keeps the entries they find in
 * memory, and the entry's weak-reference lock bit (W1) decides, against
 * any death, whether its object can still be taken. Writers serialize on
 * the map's mutex, under which nothing but table operations run (no
 * allocation of objects, no decrement, no callback), so a callback that
 * removes an entry can always take it.
 *
 * Lifetimes (M1-M3):
 *   M1  an entry in the table holds one reference to itself; leaving the
 *       table (removed, replaced, its weak side dead) retires it, and the
 *       reference is dropped once a grace period has passed (rcu.c), so a
 *       reader inside a read-side section never sees it freed;
 *   M2  a WEAK_KEYS entry's value is read only under the entry's lock bit
 *       while its key is not cleared, and dropped only after the key is
 *       cleared (death or detach): so a reader never takes a dropped value;
 *   M3  the map's memory lives while its handle or any entry object lives
 *       (`holds`): a callback running for an entry can always lock it.
 */
#include "weakref/rcu.h"
#include "weakref/weakref_internal.h"

#include <rcgc/raw.h>

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

struct rcgc_weakmap {
    struct cds_lfht *table;
    pthread_mutex_t mutex; /* writers */
    int kind;
    _Atomic size_t length;
    _Atomic size_t holds; /* M3 */
};

struct entry {
    struct weakref ref; /* the weak side: the value, or the key */
    /* What a lookup reads, next to each other (one or two cache lines). */
    struct cds_lfht_node node;
    int key_kind;
    int64_t integer;
    uintptr_t key_address; /* an object key's address: compared, never followed */
    size_t length;
    struct rcgc_weakmap *map;
    rcgc_object *value; /* RCGC_WEAK_KEYS: held (M2) */
    struct rcgc_rcu_retired retired;
    struct entry *taken; /* a writer's list of entries it took out */
    bool linked;         /* in the table (map mutex) */
    char bytes[];        /* a string key */
};

static void entry_release(rcgc_object *self);

const rcgc_type rcgc__weakmap_entry_type = {
    .name = "weakmap entry", .size = sizeof(struct entry), .release = entry_release};

static inline struct entry *entry_of_node(struct cds_lfht_node *node) {
    return (struct entry *)(void *)((char *)node - offsetof(struct entry, node));
}

static inline struct entry *entry_of_retired(struct rcgc_rcu_retired *retired) {
    return (struct entry *)(void *)((char *)retired - offsetof(struct entry, retired));
}

/* ------------------------------------------------------------------ Keys */

static bool key_fits(const rcgc_weakmap *map, const rcgc_key *key) {
    if (map->kind == RCGC_WEAK_KEYS)
        return key->kind == RCGC_KEY_OBJECT && key->object != NULL;
    return key->kind == RCGC_KEY_INTEGER ||
           (key->kind == RCGC_KEY_STRING && (key->bytes != NULL || key->length == 0));
}

static inline unsigned long mix(uint64_t h) {
    h ^= h >> 33;
    h *= UINT64_C(0xFF51AFD7ED558CCD);
    h ^= h >> 33;
    return (unsigned long)h;
}

static unsigned long key_hash(const rcgc_key *key) {
    switch (key->kind) {
    case RCGC_KEY_INTEGER:
        return mix((uint64_t)key->integer);
    case RCGC_KEY_STRING: {
        /* FNV-1a, then mixed: strings are short keys here. */
        uint64_t h = UINT64_C(0xCBF29CE484222325);
        const unsigned char *p = key->bytes;
        for (size_t i = 0; i < key->length; i++)
            h = (h ^ p[i]) * UINT64_C(0x100000001B3);
        return mix(h ^ 1);
    }
    default:
        return mix((uint64_t)(uintptr_t)key->object >> 4);
    }
}

static int key_matches(struct cds_lfht_node *node, const void *arg) {
    struct entry *e = entry_of_node(node);
    const rcgc_key *key = arg;
    rcgc__rcu_enter(&e->retired);
    bool same = e->key_kind == key->kind;
    if (same && key->kind == RCGC_KEY_INTEGER)
        same = e->integer == key->integer;
    else if (same && key->kind == RCGC_KEY_STRING)
        same = e->length == key->length && memcmp(e->bytes, key->bytes, key->length) == 0;
    else if (same)
        same = e->key_address == (uintptr_t)key->object;
    rcgc__rcu_leave(&e->retired);
    return same;
}

static rcgc_key key_of(const struct entry *e, rcgc_object *key_object) {
    switch (e->key_kind) {
    case RCGC_KEY_INTEGER:
        return RCGC_KEY_INT(e->integer);
    case RCGC_KEY_STRING:
        return RCGC_KEY_BYTES(e->bytes, e->length);
    default:
        return RCGC_KEY_OBJ(key_object);
    }
}

/* ------------------------------------------------------------- Lifetimes */

static void map_unhold(rcgc_weakmap *map) {
    if (atomic_fetch_sub_explicit(&map->holds, 1, memory_order_acq_rel) != 1)
        return;
    cds_lfht_destroy(map->table, NULL);
    pthread_mutex_destroy(&map->mutex);
    rcgc_raw_free(map);
}

static void entry_release(rcgc_object *self) {
    struct entry *e = (struct entry *)self;
    rcgc__weakref_release(self);
    if (e->map != NULL)
        map_unhold(e->map);
}

/* Drop the table's reference of every entry whose grace period ended
 * (M1). */
static void reclaim_ready(void) {
    for (struct rcgc_rcu_retired *r = rcgc__rcu_take_ready(), *next; r != NULL; r = next) {
        next = r->next_ready;
        rcgc_decref(&entry_of_retired(r)->ref.head);
    }
}

/* An entry out of the table (map mutex released): clear its weak side,
 * drop its value (M2), retire it (M1). */
/* Clear the entry's weak side and hand back its value (M2: no reader
 * takes it once the weak side is cleared), NULL for a weak-value entry. */
static rcgc_object *detach_value(struct entry *e) {
    (void)rcgc__weakref_detach(&e->ref);
    rcgc_object *value = e->value;
    e->value = NULL;
    return value;
}

static void retire(struct entry *e) {
    rcgc_object *value = detach_value(e);
    rcgc__rcu_retire(&e->retired);
    rcgc_xdecref(value);
}

static void retire_taken(struct entry *list) {
    while (list != NULL) {
        struct entry *e = list;
        list = e->taken;
        e->taken = NULL;
        retire(e);
    }
}

/* Under the map mutex: take @e out of the table. */
static void unlink_locked(rcgc_weakmap *map, struct entry *e) {
    rcu_read_lock();
    (void)cds_lfht_del(map->table, &e->node);
    rcu_read_unlock();
    e->linked = false;
    atomic_fetch_sub_explicit(&map->length, 1, memory_order_relaxed);
}

/* The weak side died: the entry leaves the table. */
static void entry_died(rcgc_object *ref, void *arg) {
    (void)arg;
    struct entry *e = (struct entry *)ref;
    rcgc_weakmap *map = e->map;
    pthread_mutex_lock(&map->mutex);
    bool was_linked = e->linked;
    if (was_linked)
        unlink_locked(map, e);
    pthread_mutex_unlock(&map->mutex);
    if (was_linked)
        retire(e);
    reclaim_ready();
}

static struct entry *entry_new(rcgc_weakmap *map, const rcgc_key *key, rcgc_object *value) {
    size_t extra = key->kind == RCGC_KEY_STRING ? key->length : 0;
    rcgc_object *obj = rcgc_new_var(&rcgc__weakmap_entry_type, sizeof(struct entry) + extra);
    if (obj == NULL)
        return NULL;
    struct entry *e = (struct entry *)obj;
    e->map = map;
    atomic_fetch_add_explicit(&map->holds, 1, memory_order_relaxed);
    e->key_kind = key->kind;
    e->integer = key->integer;
    e->key_address = (uintptr_t)key->object;
    e->length = extra;
    if (extra > 0)
        memcpy(e->bytes, key->bytes, extra);
    rcgc_object *weak_side = value;
    if (map->kind == RCGC_WEAK_KEYS) {
        weak_side = key->object;
        e->value = value;
        rcgc_incref(value);
    }
    cds_lfht_node_init(&e->node);
    if (rcgc__weakref_init(&e->ref, weak_side, entry_died, NULL) != 0) {
        rcgc_object *held = e->value;
        e->value = NULL;
        rcgc_decref(obj);
        if (held != NULL)
            rcgc_decref(held);
        errno = ENOMEM;
        return NULL;
    }
    return e;
}

/* An entry that never entered the table. */
static void entry_discard(struct entry *e) {
    rcgc_object *value = detach_value(e);
    rcgc_decref(&e->ref.head);
    rcgc_xdecref(value);
}

/* ----------------------------------------------------------------- Reads */

/* A new reference to the entry's value, or NULL once its weak side is
 * cleared or dying. */
static rcgc_object *entry_value(struct entry *e) {
    uintptr_t weak_side = weakref_lock(&e->ref);
    if (weak_side == 0)
        return NULL;
    rcgc_object *value = (rcgc_object *)weak_side;
    if (e->map->kind == RCGC_WEAK_VALUES) {
        if (!rcgc__object_try_incref(value))
            value = NULL;
    } else {
        value = e->value; /* M2: held by the entry until the key is cleared */
        rcgc_incref(value);
    }
    weakref_unlock(&e->ref, weak_side);
    return value;
}

/* Inside a read-side section: the entry for @key, marked entered. */
static struct entry *lookup(rcgc_weakmap *map, const rcgc_key *key, unsigned long hash) {
    struct cds_lfht_iter iter;
    cds_lfht_lookup(map->table, hash, key_matches, key, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    if (node == NULL)
        return NULL;
    struct entry *e = entry_of_node(node);
    rcgc__rcu_enter(&e->retired);
    return e;
}

static void check_map(const rcgc_weakmap *map, const char *where) {
    if (map == NULL)
        rcgc__fatal("rcgc: NULL weak map in %s", where);
}

rcgc_object *rcgc_weakmap_get(rcgc_weakmap *map, rcgc_key key) {
    check_map(map, "rcgc_weakmap_get");
    if (!key_fits(map, &key))
        return rcgc__fail(EINVAL);
    unsigned long hash = key_hash(&key);
    rcu_read_lock();
    struct entry *e = lookup(map, &key, hash);
    rcgc_object *value = NULL;
    if (e != NULL) {
        value = entry_value(e);
        rcgc__rcu_leave(&e->retired);
    }
    rcu_read_unlock();
    return value;
}

size_t rcgc_weakmap_len(const rcgc_weakmap *map) {
    check_map(map, "rcgc_weakmap_len");
    return atomic_load_explicit(&map->length, memory_order_relaxed);
}

/* What a snapshot holds of one entry, for the visit outside the
 * read-side section. */
struct held_entry {
    struct entry *e;
    rcgc_object *key, *value;
};

/* The key (for RCGC_WEAK_KEYS) and the value, or false if the weak side
 * is cleared or dying. Only increments under the lock bit: a decrement
 * could run a death that waits for this very bit. */
static bool hold_entry(struct held_entry *held) {
    struct entry *e = held->e;
    uintptr_t weak_side = weakref_lock(&e->ref);
    if (weak_side == 0)
        return false;
    bool alive = rcgc__object_try_incref((rcgc_object *)weak_side);
    if (alive && e->map->kind == RCGC_WEAK_VALUES) {
        held->value = (rcgc_object *)weak_side;
    } else if (alive) {
        held->key = (rcgc_object *)weak_side;
        held->value = e->value;
        rcgc_incref(held->value);
    }
    weakref_unlock(&e->ref, weak_side);
    return alive;
}

static void drop_held(struct held_entry *held) {
    if (held->value != NULL)
        rcgc_decref(held->value);
    if (held->key != NULL)
        rcgc_decref(held->key);
    rcgc_decref(&held->e->ref.head);
}

/* Every live entry, held (M1: an entry found in a read-side section has
 * its table reference until the section ends, so it can take another).
 * Nothing is dropped inside the section: a drop may run a death, whose
 * hooks may wait for a grace period. */
static struct held_entry *snapshot(rcgc_weakmap *map, size_t *count) {
    size_t capacity = atomic_load_explicit(&map->length, memory_order_relaxed) + 16, n = 0;
    struct held_entry *items = rcgc_raw_malloc(capacity * sizeof *items);
    if (items == NULL)
        return NULL;
    bool failed = false;
    rcu_read_lock();
    struct cds_lfht_iter iter;
    for (cds_lfht_first(map->table, &iter); cds_lfht_iter_get_node(&iter) != NULL;
         cds_lfht_next(map->table, &iter)) {
        struct entry *e = entry_of_node(cds_lfht_iter_get_node(&iter));
        if (n == capacity) {
            struct held_entry *grown = rcgc_raw_realloc(items, 2 * capacity * sizeof *items);
            if (grown == NULL) {
                failed = true;
                break;
            }
            items = grown;
            capacity *= 2;
        }
        rcgc__rcu_enter(&e->retired);
        struct held_entry held = {.e = e};
        if (hold_entry(&held)) {
            rcgc_incref(&e->ref.head);
            items[n++] = held;
        }
        rcgc__rcu_leave(&e->retired);
    }
    rcu_read_unlock();
    *count = n;
    if (failed) {
        for (size_t i = 0; i < n; i++)
            drop_held(&items[i]);
        rcgc_raw_free(items);
        return rcgc__fail(ENOMEM);
    }
    return items;
}

ptrdiff_t rcgc_weakmap_foreach(rcgc_weakmap *map, rcgc_weakmap_visit_fn visit, void *arg) {
    check_map(map, "rcgc_weakmap_foreach");
    size_t count;
    struct held_entry *items = snapshot(map, &count);
    if (items == NULL)
        return -1;
    ptrdiff_t visited = 0;
    bool stopped = false;
    for (size_t i = 0; i < count; i++) {
        if (!stopped) {
            visited++;
            stopped = visit(key_of(items[i].e, items[i].key), items[i].value, arg) != 0;
        }
        drop_held(&items[i]);
    }
    rcgc_raw_free(items);
    return visited;
}

/* ---------------------------------------------------------------- Writes */

rcgc_weakmap *rcgc_weakmap_new(int kind) {
    if (kind != RCGC_WEAK_VALUES && kind != RCGC_WEAK_KEYS)
        return rcgc__fail(EINVAL);
    rcgc_weakmap *map = rcgc_raw_malloc(sizeof *map);
    if (map == NULL)
        return NULL;
    map->table = rcgc__rcu_table_new();
    if (map->table == NULL) {
        rcgc_raw_free(map);
        return rcgc__fail(ENOMEM);
    }
    pthread_mutex_init(&map->mutex, NULL);
    map->kind = kind;
    atomic_init(&map->length, 0);
    atomic_init(&map->holds, 1);
    return map;
}

/* Under the map mutex: put @e in the table in place of any entry for
 * @key, which is returned (out of the table now). */
static struct entry *put_locked(rcgc_weakmap *map, struct entry *e, const rcgc_key *key,
                                unsigned long hash) {
    e->linked = true;
    rcgc__rcu_publish(&e->retired);
    rcu_read_lock();
    struct cds_lfht_node *old = cds_lfht_add_replace(map->table, hash, key_matches, key, &e->node);
    rcu_read_unlock();
    if (old == NULL) {
        atomic_fetch_add_explicit(&map->length, 1, memory_order_relaxed);
        return NULL;
    }
    struct entry *replaced = entry_of_node(old);
    replaced->linked = false;
    return replaced;
}

static int check_write(rcgc_weakmap *map, const rcgc_key *key, const rcgc_object *value,
                       const char *where) {
    check_map(map, where);
    if (!key_fits(map, key) || value == NULL) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int rcgc_weakmap_set(rcgc_weakmap *map, rcgc_key key, rcgc_object *value) {
    if (check_write(map, &key, value, "rcgc_weakmap_set") != 0)
        return -1;
    unsigned long hash = key_hash(&key);
    struct entry *e = entry_new(map, &key, value);
    if (e == NULL)
        return -1;
    pthread_mutex_lock(&map->mutex);
    struct entry *replaced = put_locked(map, e, &key, hash);
    pthread_mutex_unlock(&map->mutex);
    if (replaced != NULL)
        retire(replaced);
    reclaim_ready();
    return 0;
}

rcgc_object *rcgc_weakmap_setdefault(rcgc_weakmap *map, rcgc_key key, rcgc_object *value) {
    if (check_write(map, &key, value, "rcgc_weakmap_setdefault") != 0)
        return NULL;
    rcgc_object *found = rcgc_weakmap_get(map, key);
    if (found != NULL)
        return found;
    unsigned long hash = key_hash(&key);
    struct entry *e = entry_new(map, &key, value);
    if (e == NULL)
        return NULL;
    struct entry *replaced = NULL;
    pthread_mutex_lock(&map->mutex);
    /* Writers are serialized here, so the check and the insertion are one
     * step for them; readers see the old entry or the new one. */
    rcu_read_lock();
    struct entry *old = lookup(map, &key, hash);
    if (old != NULL) {
        found = entry_value(old);
        rcgc__rcu_leave(&old->retired);
    }
    rcu_read_unlock();
    if (found == NULL)
        replaced = put_locked(map, e, &key, hash);
    pthread_mutex_unlock(&map->mutex);
    if (found != NULL) {
        entry_discard(e);
        return found;
    }
    if (replaced != NULL)
        retire(replaced);
    reclaim_ready();
    rcgc_incref(value);
    return value;
}

int rcgc_weakmap_del(rcgc_weakmap *map, rcgc_key key) {
    check_map(map, "rcgc_weakmap_del");
    if (!key_fits(map, &key)) {
        errno = EINVAL;
        return -1;
    }
    unsigned long hash = key_hash(&key);
    pthread_mutex_lock(&map->mutex);
    rcu_read_lock();
    struct entry *e = lookup(map, &key, hash);
    if (e != NULL)
        rcgc__rcu_leave(&e->retired);
    rcu_read_unlock();
    bool alive = false;
    if (e != NULL) {
        alive = atomic_load_explicit(&e->ref.target, memory_order_relaxed) != 0;
        unlink_locked(map, e);
    }
    pthread_mutex_unlock(&map->mutex);
    if (e != NULL)
        retire(e);
    reclaim_ready();
    if (!alive) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}

void rcgc_weakmap_free(rcgc_weakmap *map) {
    if (map == NULL)
        return;
    struct entry *taken = NULL;
    pthread_mutex_lock(&map->mutex);
    rcu_read_lock();
    struct cds_lfht_iter iter;
    for (cds_lfht_first(map->table, &iter); cds_lfht_iter_get_node(&iter) != NULL;
         cds_lfht_next(map->table, &iter)) {
        struct entry *e = entry_of_node(cds_lfht_iter_get_node(&iter));
        (void)cds_lfht_del(map->table, &e->node);
        e->linked = false;
        e->taken = taken;
        taken = e;
    }
    rcu_read_unlock();
    atomic_store_explicit(&map->length, 0, memory_order_relaxed);
    pthread_mutex_unlock(&map->mutex);
    retire_taken(taken);
    map_unhold(map);
    /* Free what it held now, not at some later write. */
    rcgc__rcu_wait_retired();
    reclaim_ready();
}
