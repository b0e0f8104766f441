/* manifest.h - which parts are live: the store's single source of truth on disk.
 *
 * DATA/MANIFEST is replaced atomically (temporary file, fsync, rename, fsync of the directory),
 * so after a crash it is either the old list or the new one, never a mix. A part file that
 * the manifest does not list (left by a flush or merge that crashed before publishing) is not
 * part of the store and is removed at open.
 *
 * Format, version 2 (integers little-endian, str = varint length + bytes):
 *
 *   "FFMANIF2"
 *   generation:u64          incremented by every publish
 *   wal_seq:u64             every WAL record with a smaller sequence number is in the parts
 *   next_id:u64             the next part file id
 *   events:u64 × 5          events stored so far, by wire format (seed, segment, pixel, import,
 *                           log: the order of FF_FMT_* in event/event.h)
 *   quarantined:u64 × 5     quarantined items stored so far, by wire format
 *   nparts:u32, then per part:
 *     name:str kind:u8 (1 events, 2 quarantine) day:i32 rows:u64 bytes:u64
 *     min_time:i64 max_time:i64 min_seq:u64 max_seq:u64
 *   xxh3:u64                XXH3-64 of every byte before it
 *
 * Version 1 ("FFMANIF1", written before the log format existed) is the same with 4 counts
 * in each of the two lists; it is still read (the log's counts start at 0) and never
 * written. */
#ifndef FF_MANIFEST_H
#define FF_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

enum ff_part_kind { FF_PART_EVENTS = 1, FF_PART_QUARANTINE = 2 };

struct ff_manifest_part {
    char name[64];
    uint8_t kind;
    int32_t day;
    uint64_t rows, bytes;
    int64_t min_time, max_time;
    uint64_t min_seq, max_seq;
};

struct ff_manifest {
    uint64_t generation, wal_seq, next_id;
    uint64_t events[FF_FMT_COUNT], quarantined[FF_FMT_COUNT];
    struct ff_manifest_part *parts;
    size_t nparts;
};

/* Reads DATA/MANIFEST. A missing file is an empty store (0). A damaged one is FF_ECORRUPT
 * with `err` saying where. */
int ff_manifest_load(const char *dir, struct ff_manifest *m, char *err, size_t errlen);
/* Writes `m` as DATA/MANIFEST with generation + 1 (set in m on success). FF_IO_UNSYNCED (> 0)
 * when it is in place but its directory could not be fsync'd: either manifest may survive a
 * power loss, so the caller deletes nothing the old one lists. */
int ff_manifest_publish(const char *dir, struct ff_manifest *m);
/* Appends a part entry. 0 or -ENOMEM. */
int ff_manifest_add(struct ff_manifest *m, const struct ff_manifest_part *p);
/* A deep copy. */
int ff_manifest_copy(struct ff_manifest *dst, const struct ff_manifest *src);
void ff_manifest_free(struct ff_manifest *m);
/* Index of the part named `name`, or -1. */
long ff_manifest_find(const struct ff_manifest *m, const char *name);

#endif
