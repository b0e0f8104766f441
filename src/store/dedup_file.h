/* dedup_file.h - the message-id keys of a finished WAL segment, in a file of their own.
 *
 * Retries are recognised for 24 hours (dedup.h), across restarts too. The WAL used to be
 * kept that long for it alone: ten times the bytes of the parts holding the same events,
 * and a start-up that read all of it. Now a segment, once finished, leaves its keys in
 * DIR/wal/<first-seq>.dedup; the segment itself goes as soon as its events are in parts,
 * and the keys file once the window has passed. Start-up loads keys files instead of
 * decoding old segments.
 *
 * Format, version 2 (integers little-endian):
 *
 *     0  8  magic "FFDEDUP\0"
 *     8  4  version, 2
 *    12  4  reserved, 0
 *    16  8  count n
 *    24  …  n entries of 16 bytes: key (u64, ff_dedup_hash), received_at_us (i64) with the
 *           id's check (ff_dedup_hash's) in its low 12 bits (ff_dedup_stamp)
 *     …  8  XXH3-64 of every byte before it
 *
 * Version 1, written before checks were kept, is the same but for the version and a
 * received_at_us without a check: its keys are loaded with their checks unknown.
 *
 * Written whole to a temporary file, fsync'd and renamed (ff_io_write_file_atomic_direct,
 * past the page cache: a keys file is read only at start-up): a keys file is either
 * complete or absent. */
#ifndef FF_DEDUP_FILE_H
#define FF_DEDUP_FILE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "store/dedup.h"

#define FF_DEDUP_FILE_ENTRY 16

/* The entries of a keys file being gathered (a WAL segment's, as its groups become durable),
 * in chunks of FF_DEDUP_KEYS_PER_CHUNK that a reset keeps for the next segment. One buffer
 * doubled as it filled made the WAL writer copy and zero all of it at each doubling: a
 * 64 MiB segment's keys cost it twice their memory, the last doubling in one go. */
#define FF_DEDUP_KEYS_PER_CHUNK ((size_t)1 << 16) /* 1 MiB */
struct ff_dedup_keybuf {
    struct ff_dedup_received **chunks;
    size_t nchunks;          /* allocated, filled or not */
    size_t n;                /* entries gathered */
};

int ff_dedup_keybuf_grow(struct ff_dedup_keybuf *kb);
/* Forgets the entries, keeping the chunks. */
void ff_dedup_keybuf_reset(struct ff_dedup_keybuf *kb);
void ff_dedup_keybuf_free(struct ff_dedup_keybuf *kb);

/* Appends one entry. 0 or -ENOMEM. */
static inline int ff_dedup_file_add(struct ff_dedup_keybuf *kb, uint64_t key, int64_t received_us)
{
    size_t c = kb->n / FF_DEDUP_KEYS_PER_CHUNK;
    if (c == kb->nchunks && ff_dedup_keybuf_grow(kb)) return -ENOMEM;
    kb->chunks[c][kb->n % FF_DEDUP_KEYS_PER_CHUNK] = (struct ff_dedup_received){key, received_us};
    kb->n++;
    return 0;
}

/* Writes the gathered entries as the keys file `path`, through `scratch` (fileio.h; NULL: a
 * buffer of its own). */
int ff_dedup_file_write(const char *path, const struct ff_dedup_keybuf *kb, struct ff_io_scratch *scratch);

/* A keys file mapped and checked: its entries, as they are on disk, are what
 * ff_dedup_insert_many takes (the format is little-endian, as every machine footfall
 * builds for). */
struct ff_dedup_keys {
    const struct ff_dedup_received *entries;
    size_t n;
    int checked; /* version 2: the received times carry the checks */
    void *map;
    size_t map_len;
};
/* Maps and checks the keys file `path`. 0, FF_ECORRUPT (with `err` saying where) or -errno. */
int ff_dedup_file_read(const char *path, struct ff_dedup_keys *k, char *err, size_t errlen);
void ff_dedup_keys_free(struct ff_dedup_keys *k);

/* Reads the keys file `path` and inserts its keys still inside the window into `d`. Sets
 * *count to the number of entries. 0, FF_ECORRUPT (with `err` saying where) or -errno. */
int ff_dedup_file_load(const char *path, struct ff_dedup *d, int64_t now_us, uint64_t *count, char *err,
                       size_t errlen);

/* Checks a keys file without loading it: like ff_dedup_file_load, with d = NULL. */
int ff_dedup_file_check(const char *path, uint64_t *count, char *err, size_t errlen);

/* The keys file path of the segment `wal_path` (".wal" replaced by ".dedup"). */
int ff_dedup_file_path(const char *wal_path, char *out, size_t cap);

#endif
