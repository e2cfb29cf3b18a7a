/* A hash map from uint64 to uint64 with open addressing and linear probing: site tables, lock
 * tables, sync-site values. UINT64_MAX is never a key (no address reaches it). */
#include <stdlib.h>

#include "native.h"

#define EMPTY UINT64_MAX

static uint64_t slot_of(const nm_map *map, uint64_t key) {
    return (key * 0x9E3779B97F4A7C15ull >> 17) & map->mask;
}

static int map_alloc(nm_map *map, uint64_t capacity) {
    map->keys = malloc(capacity * sizeof *map->keys);
    map->values = malloc(capacity * sizeof *map->values);
    if (!map->keys || !map->values)
        return -1;
    for (uint64_t i = 0; i < capacity; i++)
        map->keys[i] = EMPTY;
    map->mask = capacity - 1;
    map->count = 0;
    return 0;
}

nm_map *map_new(void) {
    nm_map *map = calloc(1, sizeof *map);
    if (map && map_alloc(map, 64) != 0) {
        map_free(map);
        return NULL;
    }
    return map;
}

void map_free(nm_map *map) {
    if (!map)
        return;
    free(map->keys);
    free(map->values);
    free(map);
}

uint64_t *map_find(const nm_map *map, uint64_t key) {
    for (uint64_t i = slot_of(map, key);; i = (i + 1) & map->mask) {
        if (map->keys[i] == key)
            return &map->values[i];
        if (map->keys[i] == EMPTY)
            return NULL;
    }
}

uint64_t *map_put(nm_map *map, uint64_t key, uint64_t value) {
    uint64_t *found = map_find(map, key);
    if (found)
        return found;
    if (2 * (map->count + 1) > map->mask + 1) { /* keep the load under one half */
        nm_map old = *map;
        if (map_alloc(map, 2 * (old.mask + 1)) != 0) {
            *map = old;
            return NULL;
        }
        for (uint64_t i = 0; i <= old.mask; i++)
            if (old.keys[i] != EMPTY)
                map_put(map, old.keys[i], old.values[i]);
        free(old.keys);
        free(old.values);
    }
    uint64_t i = slot_of(map, key);
    while (map->keys[i] != EMPTY)
        i = (i + 1) & map->mask;
    map->keys[i] = key;
    map->values[i] = value;
    map->count++;
    return &map->values[i];
}
