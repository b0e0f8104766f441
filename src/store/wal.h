/* wal.h - the write-ahead log: where an event is made durable before it is acknowledged.
 *
 * Submitters (the HTTP event loops) hand in batches of encoded records, which they compress
 * and checksum themselves; one writer thread gathers everything submitted while the previous
 * fsync ran, marks records whose messageId was seen in the last 24 hours as dropped, writes
 * one checksummed frame per submission, fsyncs once and calls every submitter back (group
 * commit). The byte format is described in wal.c and docs/internals/wal.md. */
#ifndef FF_WAL_H
#define FF_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"
#include "ingest/ingest.h"

struct ff_wal;

/* Called on the writer thread for each frame once it is durable, before its submitter is
 * called back: the records (as event.h encodes them) with sequence numbers first_seq,
 * first_seq + 1, …, except the `ndrop` indexes in `drops` (duplicates, not in the log). */
typedef void (*ff_wal_durable_fn)(void *arg, uint64_t first_seq, const char *records, size_t len,
                                  const uint32_t *drops, uint32_t ndrop);

/* 1: frames are compressed with zstd, as before lz4 (for tests that old logs still read). */
extern int ff_wal_zstd;

struct ff_wal_opts {
    const char *dir;          /* the data directory; segments go in DIR/wal/ */
    size_t segment_bytes;     /* start a new segment file past this size */
    int64_t dedup_window_us;  /* how long a messageId is remembered */
    size_t dedup_max_bytes;   /* the memory of the messageId set at most (0: no bound); past it
                                 the oldest ids go first (ff_dedup_set_budget) */
    ff_wal_durable_fn on_durable; /* optional */
    void *on_durable_arg;
    /* Optional, with on_durable_arg, on the writer thread: the dedup set let ids go for room,
     * and no longer remembers those received at or before `forgotten_before_us`. */
    void (*on_forget)(void *arg, int64_t forgotten_before_us);
    uint64_t min_next_seq;    /* numbers below this are taken (the store holds them, perhaps
                                 from segments since deleted): the log never hands them out again */
};

/* What recovery found in the log at open. */
struct ff_wal_recovery {
    uint64_t events[FF_FMT_COUNT];
    uint64_t quarantined[FF_FMT_COUNT];
    uint64_t segments;
    uint64_t truncated_bytes; /* torn tail cut off the last segment */
    uint64_t corrupt_frames;  /* unreadable frames in earlier segments (skipped, kept on disk) */
};

/* One submission. The submitter owns it and the batch until `done` is called, on the
 * writer thread; `done` must not block (hand the result to the submitter's own thread). */
struct ff_wal_req {
    const struct ff_batch *batch;
    void (*done)(struct ff_wal_req *req);
    void *udata;
    /* Set before `done`: */
    int status;               /* 0 = durable; -ENOSPC, -EIO, -ENOMEM, FF_ETOOBIG: nothing of it is */
    uint32_t stored;          /* event records written */
    uint32_t duplicates;      /* event records dropped as already seen */
    uint32_t quarantined;     /* quarantine records written */
    /* Private to the WAL: the payload as sealed (compressed, checksummed) on submission. */
    struct ff_wal_req *next;
    char *sealed;
    uint32_t sealed_len, raw_len;
    uint16_t codec;
    int seal_status;
    uint64_t payload_hash;
};

/* Opens (creating when needed) the log under opts->dir, recovers it — truncating a torn
 * tail, which it reports in the log — and starts the writer thread. */
int ff_wal_open(struct ff_wal **out, const struct ff_wal_opts *opts, struct ff_wal_recovery *rec);
/* Compresses and checksums the batch on the calling thread, then queues `req`; its `done`
 * runs once the records are durable or have failed. */
void ff_wal_submit(struct ff_wal *w, struct ff_wal_req *req);
/* Completes everything queued, stops the writer and closes the files. */
void ff_wal_close(struct ff_wal *w);

/* Reads every intact record of the log under `dir`, oldest first, calling `visit` with the
 * record's sequence number; a non-zero return from `visit` stops the scan and is returned.
 * Safe while a writer appends: a frame being written fails its checksum and ends the scan of
 * that segment. Strings in the record are valid only during the call. */
typedef int (*ff_wal_visit_fn)(void *arg, uint64_t seq, const struct ff_record *rec);
int ff_wal_scan(const char *dir, ff_wal_visit_fn visit, void *arg);
/* Like ff_wal_scan, but skips the segments that hold only records numbered below from_seq
 * (records below it in the first segment read are still visited: filter them). */
int ff_wal_scan_from(const char *dir, uint64_t from_seq, ff_wal_visit_fn visit, void *arg);

/* Deletes the segments, never the one being written, whose records are all numbered below
 * `below_seq` (they are in the store's parts): at once when the segment's keys file
 * (dedup_file.h) is there, else once it was last written at or before `expired_by_us` (the
 * deduplication window's start). Keys files whose segment is gone are deleted by the same
 * rule. Returns how many files were deleted, or a negative error. */
long ff_wal_trim(const char *dir, uint64_t below_seq, int64_t expired_by_us);

/* Removes the records `match` picks from every segment, the one being written included (the
 * writer moves to a new segment first): each is replaced by an empty record and marked
 * dropped, so sequence numbers do not move. Sets *erased to how many went. For GDPR erasure:
 * the store removes the same events from its parts. */
int ff_wal_erase(struct ff_wal *w, int (*match)(void *arg, const struct ff_record *rec), void *arg, uint64_t *erased);

/* Verifies every frame checksum of the log under `dir`, and every keys file, without
 * changing anything; calls
 * `report` for each problem. Returns the number of damaged places (a torn tail at the end
 * of the last segment is not damage: recovery cuts it; its size goes to *torn_bytes), or a
 * negative error. */
long ff_wal_check(const char *dir, void (*report)(void *arg, const char *what), void *arg, uint64_t *torn_bytes);

/* Test hook: the next `n` writes fail with -ENOSPC as if the disk were full. */
void ff_wal_inject_write_failures(struct ff_wal *w, int n);

#endif
