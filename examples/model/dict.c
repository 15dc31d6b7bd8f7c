/* examples/model/dict.c - dict with string keys: open addressing with
 * linear probing over a power-of-two table, grown at two thirds full.
 * Keys are copied into blocks of their own; only values are references. */
#include "model.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct dict_entry {
    char *key; /* NULL: never used; DELETED: a removed entry */
    uint64_t hash;
    rcgc_object *value;
};

struct model_dict {
    rcgc_object head;
    struct dict_entry *entries;
    size_t capacity; /* 0 or a power of two */
    size_t used;     /* live entries */
    size_t filled;   /* live and removed entries: what probing walks over */
};

static char deleted_marker;
#define DELETED (&deleted_marker)

static uint64_t hash_key(const char *key) {
    uint64_t hash = 14695981039346656037u; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)key; *c != '\0'; c++)
        hash = (hash ^ *c) * 1099511628211u;
    return hash;
}

/* The entry holding @key, or NULL. */
static struct dict_entry *find(const struct model_dict *dict, const char *key, uint64_t hash) {
    if (dict->capacity == 0)
        return NULL;
    size_t mask = dict->capacity - 1;
    for (size_t at = hash & mask;; at = (at + 1) & mask) {
        struct dict_entry *entry = &dict->entries[at];
        if (entry->key == NULL)
            return NULL;
        if (entry->key != DELETED && entry->hash == hash && strcmp(entry->key, key) == 0)
            return entry;
    }
}

/* The first free entry for @hash in @entries (never full). */
static struct dict_entry *free_slot(struct dict_entry *entries, size_t capacity, uint64_t hash) {
    size_t mask = capacity - 1;
    size_t at = hash & mask;
    while (entries[at].key != NULL && entries[at].key != DELETED)
        at = (at + 1) & mask;
    return &entries[at];
}

/* Room for one more entry: a table of twice the live entries (at least 8)
 * when live and removed entries would pass two thirds of it. */
static bool reserve_one(struct model_dict *dict) {
    if ((dict->filled + 1) * 3 <= dict->capacity * 2)
        return true;
    size_t capacity = 8;
    while (capacity * 2 < (dict->used + 1) * 3)
        capacity *= 2;
    struct dict_entry *entries = rcgc_calloc(capacity, sizeof *entries);
    if (entries == NULL)
        return false;
    for (size_t i = 0; i < dict->capacity; i++) {
        struct dict_entry *old = &dict->entries[i];
        if (old->key != NULL && old->key != DELETED)
            *free_slot(entries, capacity, old->hash) = *old;
    }
    rcgc_free(dict->entries);
    dict->entries = entries;
    dict->capacity = capacity;
    dict->filled = dict->used;
    return true;
}

static void dict_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    const struct model_dict *dict = (const struct model_dict *)self;
    for (size_t i = 0; i < dict->capacity; i++)
        if (dict->entries[i].value != NULL)
            visit(dict->entries[i].value, arg);
}

/* The table is detached first: a value's death may run code that looks
 * at this dict, which then finds it empty rather than half torn down. */
static void dict_clear(rcgc_object *self) {
    struct model_dict *dict = (struct model_dict *)self;
    struct dict_entry *entries = dict->entries;
    size_t capacity = dict->capacity;
    dict->entries = NULL;
    dict->capacity = dict->used = dict->filled = 0;
    for (size_t i = 0; i < capacity; i++) {
        if (entries[i].key != NULL && entries[i].key != DELETED)
            rcgc_free(entries[i].key);
        rcgc_xdecref(entries[i].value);
    }
    rcgc_free(entries);
}

model_class model_dict_class = {.type = {.name = "dict",
                                         .size = sizeof(struct model_dict),
                                         .flags = RCGC_TYPE_GC,
                                         .traverse = dict_traverse,
                                         .clear = dict_clear,
                                         .release = model_count_release}};

rcgc_object *model_dict_new(void) {
    rcgc_object *dict = rcgc_new(&model_dict_class.type);
    if (dict != NULL)
        atomic_fetch_add_explicit(&model_dict_class.made, 1, memory_order_relaxed);
    return dict;
}

size_t model_dict_len(const rcgc_object *dict) { return ((const struct model_dict *)dict)->used; }

rcgc_object *model_dict_get(const rcgc_object *dict, const char *key) {
    const struct dict_entry *entry = find((const struct model_dict *)dict, key, hash_key(key));
    return entry != NULL ? entry->value : NULL;
}

int model_dict_set(rcgc_object *self, const char *key, rcgc_object *value) {
    struct model_dict *dict = (struct model_dict *)self;
    uint64_t hash = hash_key(key);
    struct dict_entry *entry = find(dict, key, hash);
    if (entry != NULL) {
        rcgc_object *old = entry->value;
        rcgc_incref(value);
        entry->value = value;
        rcgc_decref(old); /* last: its death may look at this dict */
        return 0;
    }
    size_t length = strlen(key);
    char *copy = rcgc_malloc(length + 1);
    if (copy == NULL || !reserve_one(dict)) {
        rcgc_free(copy);
        errno = ENOMEM;
        return -1;
    }
    memcpy(copy, key, length + 1);
    entry = free_slot(dict->entries, dict->capacity, hash);
    if (entry->key == NULL)
        dict->filled++;
    rcgc_incref(value);
    *entry = (struct dict_entry){.key = copy, .hash = hash, .value = value};
    dict->used++;
    return 0;
}

int model_dict_del(rcgc_object *self, const char *key) {
    struct model_dict *dict = (struct model_dict *)self;
    struct dict_entry *entry = find(dict, key, hash_key(key));
    if (entry == NULL) {
        errno = ENOENT;
        return -1;
    }
    rcgc_object *value = entry->value;
    rcgc_free(entry->key);
    *entry = (struct dict_entry){.key = DELETED};
    dict->used--;
    rcgc_decref(value); /* last: its death may look at this dict */
    return 0;
}

int model_dict_foreach(const rcgc_object *self,
                       int (*visit)(const char *key, rcgc_object *value, void *arg), void *arg) {
    const struct model_dict *dict = (const struct model_dict *)self;
    for (size_t i = 0; i < dict->capacity; i++) {
        const struct dict_entry *entry = &dict->entries[i];
        if (entry->key != NULL && entry->key != DELETED) {
            int stop = visit(entry->key, entry->value, arg);
            if (stop != 0)
                return stop;
        }
    }
    return 0;
}
