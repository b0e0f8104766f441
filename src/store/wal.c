/* wal.c - the write-ahead log (API in wal.h).
 *
 * Files: DIR/wal/<first-seq, 20 digits>.wal, one segment after another. A segment is a
 * header followed by frames; a frame is what one group commit wrote. A finished segment
 * also leaves <first-seq>.dedup, its events' dedup keys (dedup_file.h), which outlives it.
 *
 *   segment header (16 bytes)
 *     0  8  magic "FFWAL\0\0\0"
 *     8  4  format version (1), little-endian
 *    12  4  reserved, 0
 *
 *   frame: one submission (one HTTP request's records)
 *     0  4  magic 0x4d415246 ("FRAM" as bytes F R A M)
 *     4  4  stored payload length in bytes
 *     8  8  sequence number of the frame's first record
 *    16  4  number of records in the payload
 *    20  4  payload length once decompressed
 *    24  2  codec of the payload: 0 none, 1 zstd (written before lz4; still read), 2 lz4
 *    26  2  reserved, 0
 *    28  4  number of dropped records, n
 *    32  8  checksum: XXH3-64(bytes 0..31 ‖ drop list) XOR XXH3-64(stored payload)
 *    40  …  drop list: n × u32, ascending indexes of records that are not part of the log
 *           (duplicates found at commit time)
 *     …  …  stored payload: the records back to back, as event.h encodes them, compressed
 *           as the codec says
 *
 * All integers are little-endian. Record i of a frame has sequence number first_seq + i;
 * a dropped record's number is simply unused.
 *
 * Why this shape: the submitting thread (an event loop) encodes, compresses and checksums
 * its payload, so the single writer thread only decides duplicates, writes a header and
 * hands the payloads to one write: the serial part of ingest stays small.
 *
 * Writing: the frames of a group commit are appended at the end of the last acknowledged
 * frame and made durable in one go (wal_io.h: a direct write with RWF_DSYNC, or pwritev and
 * fdatasync) before any submitter of the group is called back. A new segment's file and
 * directory entry are fsync'd before the first frame goes into it.
 * A failed write or fsync cuts the file back to the last good frame and fails every
 * submission in the group; the next group tries again, so service resumes by itself when
 * space returns.
 *
 * Recovery rule: frames are read in order until one is short, has a bad magic, or fails its
 * checksum. In the last segment that is a torn tail — a write that never completed, hence
 * never acknowledged — and the file is truncated there, with a warning in the log. In an
 * earlier segment it is corruption: reported, skipped, and left on disk for the checker. */
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>
#include <lz4.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "core/zstd_ctx.h"
#include "store/dedup.h"
#include "store/dedup_file.h"
#include "store/wal_io.h"

#define SEG_HDR 16
#define FRAME_HDR 40
#define CODEC_NONE 0
#define CODEC_ZSTD 1
/* lz4 compresses a batch's records 2.5 times as fast as zstd's fastest level (its event
 * loops pay for it on every request), to about 15:1 where zstd got 38:1; the log is
 * short-lived, so speed wins. */
#define CODEC_LZ4 2
/* Payloads smaller than this are stored as they are: compression gains little on one event. */
#define COMPRESS_MIN_BYTES 1024
/* No frame decompresses to more than this: a bound for corrupt length fields. */
#define MAX_RAW_PAYLOAD ((size_t)1 << 31)
#define FRAME_MAGIC 0x4d415246u
static const char seg_magic[8] = {'F', 'F', 'W', 'A', 'L', 0, 0, 0};

struct ff_wal {
    char dir[4096];          /* DIR/wal */
    size_t segment_bytes;
    int fd;                  /* last segment */
    struct ff_wal_io io;     /* how appends to it are made durable */
    char path[4400];
    uint64_t size;           /* bytes of the last segment that hold acknowledged frames */
    uint64_t zeroed_end;     /* the file's length: zeros from `size` up to here */
    uint64_t next_seq;
    uint64_t next_seq_pending; /* next_seq once the group being written is durable */
    struct ff_dedup dedup;
    struct ff_buf hdrs;      /* the group's frame headers and drop lists */
    struct iovec *iov;
    size_t niov, cap_iov;
    size_t *hdr_off;         /* per request of the group: its frame header in hdrs, or SIZE_MAX */
    size_t cap_hdr_off;
    ff_wal_durable_fn on_durable;
    void *on_durable_arg;
    struct ff_dedup_received *inserted; /* dedup keys added by the group being written (received
                                          times stamped with their checks), to undo on failure */
    struct ff_dedup_keybuf seg_keys; /* the last segment's dedup keys, for its keys file (dedup_file.h) */
    int seg_keys_lost;       /* some could not be kept: that segment gets no keys file */
    struct ff_dedup_keys *pending; /* keys files read at open, inserted by the writer first */
    size_t npending, cap_pending;
    uint64_t min_next_seq;
    size_t ninserted, cap_inserted;
    atomic_int inject_failures;
    void (*on_forget)(void *arg, int64_t forgotten_before_us);

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ff_wal_req *head, *tail;
    int stopping;
    int rotate_req, rotate_rc;  /* ff_wal_erase asks the writer to start a new segment */
    pthread_cond_t rotated;

    /* A finished segment's keys file is written by a thread of its own: at 600,000 events/s
     * a segment's keys are 60 MB, and while the writer wrote and fsync'd them no request was
     * acknowledged (a stall of a tenth of a second or more at every rotation). */
    pthread_t keys_thread;
    pthread_mutex_t keys_mu;
    pthread_cond_t keys_cv;
    int keys_started, keys_stop, keys_job, keys_busy, keys_lost;
    char keys_seg[4400];     /* the segment of the job's keys */
    struct ff_dedup_keybuf keys_buf; /* the job's keys; once written, (emptied) the next segment's */
    struct ff_io_scratch keys_scratch; /* the keys thread's aligned buffer for its direct writes */
};

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void wr32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
    p[3] = (unsigned char)(v >> 24);
}

static void wr64(unsigned char *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted list of segment file names in `waldir`; caller frees each and the array. */
static int list_files(const char *waldir, const char *suffix, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(waldir);
    if (!d) return errno == ENOENT ? 0 : -errno;
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l != 20 + strlen(suffix) || strcmp(e->d_name + 20, suffix) != 0) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = ff_realloc(*names, cap * sizeof *p);
            if (!p) { rc = -ENOMEM; break; }
            *names = p;
        }
        if (!((*names)[*n] = ff_strndup(e->d_name, l))) { rc = -ENOMEM; break; }
        (*n)++;
    }
    closedir(d);
    if (*n) qsort(*names, *n, sizeof **names, cmp_names);
    return rc;
}

/* The segments of the log under data directory `dir`, sorted; waldir gets DIR/wal. */
static int list_segments(const char *waldir, char ***names, size_t *n) { return list_files(waldir, ".wal", names, n); }

static int list_wal(const char *dir, char waldir[4200], char ***names, size_t *n)
{
    snprintf(waldir, 4200, "%s/wal", dir);
    return list_segments(waldir, names, n);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) ff_free(names[i]);
    ff_free(names);
}

/* Checks the frame at p[0..avail): 0 and its total size, or -1 when it is not intact. */
static int frame_check(const unsigned char *h, size_t avail, size_t *total)
{
    if (avail < FRAME_HDR || rd32(h) != FRAME_MAGIC) return -1;
    uint64_t stored = rd32(h + 4), ndrop = rd32(h + 28);
    uint64_t size = FRAME_HDR + ndrop * 4 + stored;
    if (size > avail) return -1;
    uint64_t sum = XXH3_64bits(h, 32) ^ XXH3_64bits(h + FRAME_HDR, ndrop * 4);
    sum ^= XXH3_64bits(h + FRAME_HDR + ndrop * 4, stored);
    if (sum != rd64(h + 32)) return -1;
    *total = (size_t)size;
    return 0;
}

int ff_wal_zstd;

/* The payload of a frame (header h) as records: in place, or decompressed into tmp.
 * 0, or -1 when it does not decode to its stated length. */
static int frame_payload(const unsigned char *h, struct ff_buf *tmp, const char **out, size_t *len)
{
    uint32_t stored = rd32(h + 4), raw_len = rd32(h + 20), ndrop = rd32(h + 28);
    uint16_t codec = (uint16_t)(h[24] | h[25] << 8);
    const char *payload = (const char *)h + FRAME_HDR + (size_t)ndrop * 4;
    *out = payload;
    *len = stored;
    if (codec == CODEC_NONE) return raw_len == stored ? 0 : -1;
    if ((codec != CODEC_ZSTD && codec != CODEC_LZ4) || raw_len > MAX_RAW_PAYLOAD) return -1;
    ff_buf_reset(tmp);
    if (ff_buf_reserve(tmp, raw_len)) return -1;
    if (codec == CODEC_ZSTD) {
        size_t n = ff_zstd_decompress(tmp->data, raw_len, payload, stored);
        if (ZSTD_isError(n) || n != raw_len) return -1;
    } else {
        if (stored > (uint32_t)INT32_MAX || raw_len > (uint32_t)INT32_MAX) return -1;
        int n = LZ4_decompress_safe(payload, tmp->data, (int)stored, (int)raw_len);
        if (n < 0 || (uint32_t)n != raw_len) return -1;
    }
    *out = tmp->data;
    *len = raw_len;
    return 0;
}

/* Decodes the records of an intact frame and hands the ones not dropped to `visit`.
 * Returns 0, or FF_ECORRUPT when the payload does not decode (the checksum was good, so
 * this is a bug or a forged frame; it is reported, not trusted). */
static int frame_records(const char *path, size_t off, const unsigned char *h, struct ff_buf *tmp,
                         ff_wal_visit_fn visit, void *arg, uint64_t *last_seq, int *stop)
{
    uint32_t count = rd32(h + 16), ndrop = rd32(h + 28);
    uint64_t seq = rd64(h + 8);
    const unsigned char *drops = h + FRAME_HDR;
    const char *payload;
    size_t plen;
    if (frame_payload(h, tmp, &payload, &plen)) goto corrupt;
    size_t roff = 0;
    uint32_t d = 0;
    for (uint32_t i = 0; i < count; i++) {
        struct ff_record rec;
        if (ff_record_decode(payload, plen, &roff, &rec)) goto corrupt;
        if (d < ndrop && rd32(drops + 4 * d) == i) {
            d++;
            continue;
        }
        if (visit && !*stop) {
            int r = visit(arg, seq + i, &rec);
            if (r) *stop = r;
        }
    }
    if (roff != plen) goto corrupt;
    if (count) *last_seq = seq + count - 1;
    return 0;
corrupt:
    ff_error("wal: %s: the frame at offset %zu has a good checksum but does not decode", path, off);
    return FF_ECORRUPT;
}

/* What reading one segment found. */
static int all_zero(const unsigned char *p, size_t n);

struct seg_scan {
    int header_ok;
    size_t end;            /* end of the last intact frame (SEG_HDR when none) */
    size_t corrupt_bytes;  /* unreadable bytes skipped between intact frames */
    uint64_t frames_bad;   /* intact frames whose records did not decode */
};

/* The offset of the next intact frame at or after `from`, or 0 when there is none. */
static size_t next_frame(const unsigned char *p, size_t len, size_t from)
{
    static const unsigned char magic[4] = {'F', 'R', 'A', 'M'};
    while (from + FRAME_HDR <= len) {
        const unsigned char *m = memmem(p + from, len - from, magic, 4);
        if (!m) return 0;
        size_t off = (size_t)(m - p), total;
        if (!frame_check(m, len - off, &total)) return off;
        from = off + 1;
    }
    return 0;
}

/* Walks the frames of one segment read into memory. A frame that fails its check is skipped
 * when an intact frame follows it (corruption, reported); only what follows the last intact
 * frame can be a torn tail, since the writer appends. */
static void scan_segment(const char *path, const unsigned char *p, size_t len, ff_wal_visit_fn visit, void *arg,
                         uint64_t *last_seq, int *stop, struct seg_scan *res)
{
    memset(res, 0, sizeof *res);
    if (len < SEG_HDR || memcmp(p, seg_magic, 8) != 0 || rd32(p + 8) != 1) return;
    res->header_ok = 1;
    struct ff_buf tmp;
    ff_buf_init(&tmp, MAX_RAW_PAYLOAD);
    size_t off = SEG_HDR, total;
    res->end = SEG_HDR;
    while (off < len) {
        if (frame_check(p + off, len - off, &total)) {
            size_t next = next_frame(p, len, off + 1);
            if (!next) break;
            ff_error("wal: %s: %zu unreadable bytes at offset %zu skipped (corrupt frame; intact frames follow)", path,
                     next - off, off);
            res->corrupt_bytes += next - off;
            off = next;
            continue;
        }
        if (frame_records(path, off, p + off, &tmp, visit, arg, last_seq, stop)) res->frames_bad++;
        off += total;
        res->end = off;
    }
    ff_buf_free(&tmp);
}

/* Reads a whole segment file. Reading, not mapping: the writer may shorten the file under a
 * reader (rotation, a failed write), which with a mapping would be SIGBUS. */
static int read_segment(const char *path, struct ff_buf *out) { return ff_io_read_file(path, out); }

int ff_wal_scan(const char *dir, ff_wal_visit_fn visit, void *arg) { return ff_wal_scan_from(dir, 0, visit, arg); }

int ff_wal_scan_from(const char *dir, uint64_t from_seq, ff_wal_visit_fn visit, void *arg)
{
    char waldir[4200], **names;
    size_t n;
    int rc = list_wal(dir, waldir, &names, &n), stop = 0;
    struct ff_buf file;
    ff_buf_init(&file, (size_t)1 << 33);
    for (size_t i = 0; !rc && !stop && i < n; i++) {
        /* Segment i ends before segment i + 1 begins. */
        if (i + 1 < n && strtoull(names[i + 1], NULL, 10) <= from_seq) continue;
        char path[4300];
        snprintf(path, sizeof path, "%s/%s", waldir, names[i]);
        if ((rc = read_segment(path, &file))) break;
        uint64_t last = 0;
        struct seg_scan res;
        scan_segment(path, (const unsigned char *)file.data, file.len, visit, arg, &last, &stop, &res);
        if (!res.header_ok && file.len > SEG_HDR && !all_zero((const unsigned char *)file.data, file.len))
            ff_error("wal: %s: not a footfall WAL segment of version 1; skipped", path);
    }
    ff_buf_free(&file);
    free_names(names, n);
    return rc ? rc : stop;
}

static int64_t mtime_us(const char *path)
{
    struct stat st;
    if (stat(path, &st)) return INT64_MAX; /* gone, or unknown: never counts as old */
    return (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
}

long ff_wal_trim(const char *dir, uint64_t below_seq, int64_t expired_by_us)
{
    char waldir[4200], **names, **keys = NULL;
    size_t n, nkeys = 0;
    int rc = list_wal(dir, waldir, &names, &n);
    if (!rc) rc = list_files(waldir, ".dedup", &keys, &nkeys);
    if (rc) {
        free_names(names, n);
        return rc;
    }
    long deleted = 0;
    /* The last segment listed may be the one being written: it is never a candidate. A
     * segment whose records are all in parts goes at once when its keys file holds what
     * deduplication needs, else once it was last written at or before expired_by_us. */
    for (size_t i = 0; i + 1 < n; i++) {
        if (strtoull(names[i + 1], NULL, 10) > below_seq) break;
        char path[4300], kpath[4400];
        snprintf(path, sizeof path, "%s/%s", waldir, names[i]);
        int has_keys = !ff_dedup_file_path(path, kpath, sizeof kpath) && !access(kpath, F_OK);
        if ((has_keys || mtime_us(path) <= expired_by_us) && unlink(path) == 0) deleted++;
    }
    /* Keys files outlive their segment, until the ids in them are no longer remembered. A
     * file is written after the last id it holds was received. */
    for (size_t i = 0; i < nkeys; i++) {
        char seg[64], path[4300];
        snprintf(seg, sizeof seg, "%.20s.wal", keys[i]);
        snprintf(path, sizeof path, "%s/%s", waldir, seg);
        if (!access(path, F_OK)) continue;
        snprintf(path, sizeof path, "%s/%s", waldir, keys[i]);
        if (mtime_us(path) <= expired_by_us && unlink(path) == 0) deleted++;
    }
    if (deleted) ff_io_fsync_dir(waldir);
    free_names(names, n);
    free_names(keys, nkeys);
    return deleted;
}

static int create_segment(struct ff_wal *w)
{
    /* w->path names the segment being written until the new one exists: a failure below
     * leaves the log in the old one, and its keys file must still get the old name */
    char path[sizeof w->path];
    snprintf(path, sizeof path, "%s/%020" PRIu64 ".wal", w->dir, w->next_seq);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    unsigned char hdr[SEG_HDR] = {0};
    memcpy(hdr, seg_magic, 8);
    wr32(hdr + 8, 1);
    int rc = 0;
    if (pwrite(fd, hdr, SEG_HDR, 0) != SEG_HDR) rc = errno ? -errno : -EIO;
    if (!rc && fdatasync(fd)) rc = -errno;
    if (!rc) rc = ff_io_fsync_dir(w->dir);
    if (rc) {
        close(fd);
        unlink(path);
        return rc;
    }
    if (w->fd >= 0) close(w->fd);
    ff_wal_io_close(&w->io);
    memcpy(w->path, path, sizeof w->path);
    w->fd = fd;
    w->size = w->zeroed_end = SEG_HDR;
    ff_wal_io_open(&w->io, fd, w->path, w->size);
    return 0;
}

/* Keeps zeros written ahead of the end of the log, a few MiB at a time, so that appends
 * overwrite blocks the file already has: fdatasync then flushes data without a journal
 * commit for the file's size and extents, which roughly doubled the fsyncs per second here.
 * Best effort: when the zeros do not fit (disk nearly full) the log simply grows. */
#define ZERO_AHEAD_BYTES ((uint64_t)4 << 20)
static void zero_ahead(struct ff_wal *w, uint64_t need_end)
{
    /* Invariant: size <= zeroed_end. Zeros are written only past zeroed_end, never over
     * the log. A segment is not zeroed past its nominal size. */
    if (need_end <= w->zeroed_end || need_end >= w->segment_bytes) return;
    uint64_t target = need_end + ZERO_AHEAD_BYTES;
    if (target > w->segment_bytes) target = w->segment_bytes;
    /* direct writes stop at a block boundary, short of an unaligned target */
    uint64_t end = ff_wal_io_zero(&w->io, w->zeroed_end, target);
    if (end < need_end) {
        if (ftruncate(w->fd, (off_t)w->zeroed_end)) { /* zeros past the end cost only space */ }
        return;
    }
    w->zeroed_end = end;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

struct recover_ctx {
    struct ff_wal *w;
    struct ff_wal_recovery *rec;
    int64_t now_us;
};

static int recover_visit(void *arg, uint64_t seq, const struct ff_record *r)
{
    struct recover_ctx *c = arg;
    (void)seq;
    if (r->kind == FF_REC_EVENT) {
        const struct ff_event *ev = &r->u.ev;
        c->rec->events[ev->format]++;
        unsigned check;
        uint64_t key = ff_dedup_hash(ev->project, ev->message_id, &check);
        if (ev->received_at_us + c->w->dedup.window_us > c->now_us)
            ff_dedup_insert_checked(&c->w->dedup, key, check, ev->received_at_us, c->now_us);
        /* every key, whatever this opener's window: the file serves the server's */
        if (ff_dedup_file_add(&c->w->seg_keys, key, ff_dedup_stamp(ev->received_at_us, check))) c->w->seg_keys_lost = 1;
    } else {
        c->rec->quarantined[r->u.q.format]++; /* < FF_FMT_COUNT: ff_record_decode checks */
    }
    return 0;
}

/* Writes the keys file of the finished segment `path` from `keys` (none when `lost`). A
 * failure costs disk space only: without its keys file a segment is kept for the whole
 * dedup window (ff_wal_trim). */
static void write_keys(const char *path, const struct ff_dedup_keybuf *keys, int lost, struct ff_io_scratch *scratch)
{
    char kpath[4400];
    int rc = ff_dedup_file_path(path, kpath, sizeof kpath);
    if (!rc && lost) rc = -ENOMEM;
    if (!rc) rc = ff_dedup_file_write(kpath, keys, scratch);
    if (rc) ff_error("wal: cannot write %s: %s (the segment is kept for the dedup window instead)", kpath, ff_strerror(rc));
}

/* Writes the keys file of the finished segment `path` from w->seg_keys now (recovery) and
 * starts the next one's. */
static void finish_segment(struct ff_wal *w, const char *path)
{
    write_keys(path, &w->seg_keys, w->seg_keys_lost, NULL);
    w->seg_keys_lost = 0;
    ff_dedup_keybuf_reset(&w->seg_keys);
}

static void *keys_main(void *arg)
{
    struct ff_wal *w = arg;
    pthread_setname_np(pthread_self(), "ff-walkeys");
    pthread_mutex_lock(&w->keys_mu);
    for (;;) {
        while (!w->keys_job && !w->keys_stop) pthread_cond_wait(&w->keys_cv, &w->keys_mu);
        if (!w->keys_job) break; /* stopping, nothing left to write */
        w->keys_job = 0;
        w->keys_busy = 1;
        pthread_mutex_unlock(&w->keys_mu);
        write_keys(w->keys_seg, &w->keys_buf, w->keys_lost, &w->keys_scratch);
        pthread_mutex_lock(&w->keys_mu);
        ff_dedup_keybuf_reset(&w->keys_buf);
        w->keys_busy = 0;
        pthread_cond_broadcast(&w->keys_cv);
    }
    pthread_mutex_unlock(&w->keys_mu);
    return NULL;
}

/* Waits until no keys file is being written. Caller holds w->keys_mu. */
static void keys_wait_idle(struct ff_wal *w)
{
    while (w->keys_job || w->keys_busy) pthread_cond_wait(&w->keys_cv, &w->keys_mu);
}

/* The dedup set let its oldest ids go for room since it had `before` evictions: /metrics
 * counts them and says how far back ids are remembered now, and on_forget is told (the
 * store then trims the keys files of the ids forgotten). */
static void note_evictions(struct ff_wal *w, uint64_t before, int64_t now)
{
    if (w->dedup.evictions == before) return;
    ff_counter_add(ff_metrics.dedup_evictions, w->dedup.evictions - before);
    if (w->on_forget) w->on_forget(w->on_durable_arg, ff_dedup_forgotten_before(&w->dedup));
    atomic_store(&ff_metrics.dedup_window_s, (uint64_t)(ff_dedup_window_now(&w->dedup, now) / 1000000));
}

/* Hands the keys of the finished segment `path` to the keys thread, and the buffer it wrote
 * the last ones from (emptied, its memory kept) back to the writer for the next segment. */
static void finish_segment_later(struct ff_wal *w, const char *path)
{
    if (!w->keys_started && !pthread_create(&w->keys_thread, NULL, keys_main, w)) w->keys_started = 1;
    if (!w->keys_started) { /* no thread to be had: as before, here and now */
        finish_segment(w, path);
        return;
    }
    pthread_mutex_lock(&w->keys_mu);
    keys_wait_idle(w); /* the last segment's: long done, unless segments fill very fast */
    struct ff_dedup_keybuf t = w->keys_buf;
    w->keys_buf = w->seg_keys;
    w->seg_keys = t;
    snprintf(w->keys_seg, sizeof w->keys_seg, "%s", path);
    w->keys_lost = w->seg_keys_lost;
    w->seg_keys_lost = 0;
    w->keys_job = 1;
    pthread_cond_signal(&w->keys_cv);
    pthread_mutex_unlock(&w->keys_mu);
}

/* Starts a new segment after the current one, which keeps its keys in a file. */
static int rotate(struct ff_wal *w)
{
    char old[sizeof w->path];
    memcpy(old, w->path, sizeof old);
    /* The finished segment keeps no zeros past its log: readers see a clean end. */
    if (w->zeroed_end > w->size && ftruncate(w->fd, (off_t)w->size) == 0) w->zeroed_end = w->size;
    int rc = create_segment(w);
    if (!rc) finish_segment_later(w, old);
    return rc;
}

/* Maps and checks the keys file of segment `wal_path` for the writer to insert
 * (insert_pending_keys): 1 when it is there, 0 when there is none, -1 when it is damaged
 * (reported; the caller reads the segment instead). */
static int load_keys(struct ff_wal *w, const char *wal_path)
{
    char keys[4400], err[4600];
    if (ff_dedup_file_path(wal_path, keys, sizeof keys) || access(keys, F_OK)) return 0;
    if (w->npending == w->cap_pending) {
        size_t cap = w->cap_pending ? w->cap_pending * 2 : 16;
        struct ff_dedup_keys *p = ff_realloc(w->pending, cap * sizeof *p);
        if (!p) {
            ff_error("wal: %s: out of memory", keys);
            return -1;
        }
        w->pending = p;
        w->cap_pending = cap;
    }
    int rc = ff_dedup_file_read(keys, &w->pending[w->npending], err, sizeof err);
    if (!rc) {
        w->npending++;
        return 1;
    }
    ff_error("wal: %s", err);
    return -1;
}

/* Inserts the keys files read at open (by the writer, before its first group, so open
 * returns without waiting for them: reads are served at once, and acknowledgements wait
 * until retries can be recognised). */
static void insert_pending_keys(struct ff_wal *w)
{
    if (!w->npending) return;
    int64_t t0 = ff_now_us();
    size_t total = 0;
    for (size_t i = 0; i < w->npending; i++) total += w->pending[i].n;
    int rc = ff_dedup_reserve(&w->dedup, total, t0);
    for (size_t i = 0; i < w->npending; i++) {
        if (!rc) rc = ff_dedup_insert_many(&w->dedup, w->pending[i].entries, w->pending[i].n, t0, w->pending[i].checked);
        ff_dedup_keys_free(&w->pending[i]);
    }
    note_evictions(w, 0, t0); /* more than the budget holds: the newest are kept */
    if (rc)
        ff_error("wal: cannot hold the dedup keys of the last day (%s): retries of older events may be stored again",
                 ff_strerror(rc));
    else
        ff_info("wal: %zu dedup keys from %zu keys files loaded in %.3f s", total, w->npending,
                (double)(ff_now_us() - t0) / 1e6);
    ff_free(w->pending);
    w->pending = NULL;
    w->npending = w->cap_pending = 0;
}

/* Removes keys files half written when a crash came (<name>.dedup.tmp: the rename that
 * completes one never happened, so its segment is still there and gets its keys again). */
static void remove_leftover_tmp(const char *waldir)
{
    DIR *d = opendir(waldir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 10 || strcmp(e->d_name + l - 10, ".dedup.tmp")) continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", waldir, e->d_name);
        if (unlink(path) == 0) ff_warn("wal: %s: a keys file left half written removed", path);
    }
    if (d) closedir(d);
}

/* Loads the keys files whose segment is gone (its events are in parts; only the keys stay
 * until the dedup window has passed). */
static int load_orphan_keys(struct ff_wal *w, char **segs, size_t nsegs)
{
    char **names;
    size_t n;
    int rc = list_files(w->dir, ".dedup", &names, &n);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        char seg[64];
        snprintf(seg, sizeof seg, "%.20s.wal", names[i]);
        if (bsearch(&(const char *){seg}, segs, nsegs, sizeof *segs, cmp_names)) continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", w->dir, seg);
        if (load_keys(w, path) < 0)
            ff_error("wal: %s/%s: retries of the events it lists will not be recognised as duplicates", w->dir,
                     names[i]);
    }
    free_names(names, n);
    return 0;
}

static int recover(struct ff_wal *w, struct ff_wal_recovery *rec)
{
    char **names;
    size_t n;
    int rc = list_segments(w->dir, &names, &n);
    if (rc) return rc;
    struct recover_ctx c = {w, rec, ff_now_us()};
    uint64_t next_seq = 1;
    struct ff_buf file;
    ff_buf_init(&file, (size_t)1 << 33);
    remove_leftover_tmp(w->dir);
    if ((rc = load_orphan_keys(w, names, n))) {
        free_names(names, n);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/%s", w->dir, names[i]);
        int last = i + 1 == n;
        ff_dedup_keybuf_reset(&w->seg_keys);
        w->seg_keys_lost = 0;
        /* A finished segment with its keys file: the keys are all recovery needs from it. */
        int have_keys = 0;
        if (!last && (have_keys = load_keys(w, path)) > 0) {
            rec->segments++;
            if (strtoull(names[i], NULL, 10) > next_seq) next_seq = strtoull(names[i], NULL, 10);
            continue;
        }
        if ((rc = read_segment(path, &file))) {
            ff_error("wal: cannot read %s: %s", path, ff_strerror(rc));
            break;
        }
        const unsigned char *p = (const unsigned char *)file.data;
        int stop = 0;
        uint64_t seg_last = 0;
        struct seg_scan res;
        scan_segment(path, p, file.len, recover_visit, &c, &seg_last, &stop, &res);
        rec->segments++;
        /* The next number follows every record, and every segment's name (its first). */
        uint64_t named = strtoull(names[i], NULL, 10);
        if (seg_last + 1 > next_seq) next_seq = seg_last + 1;
        if (named > next_seq) next_seq = named; /* an empty segment: its name is its first number */
        if (named + 1 > next_seq && !res.header_ok) next_seq = named + 1;
        if (res.corrupt_bytes || res.frames_bad) rec->corrupt_frames++;
        if (!res.header_ok) {
            if (file.len <= SEG_HDR || all_zero(p, file.len)) {
                /* Created but never written to: nothing was in it. */
                ff_warn("wal: %s: empty segment (no complete header) removed", path);
                rec->truncated_bytes += file.len;
                unlink(path);
            } else {
                /* Not ours, or a header gone bad: never deleted, never appended to. */
                ff_error("wal: %s: not a footfall WAL segment of version 1; left as it is, and not read", path);
                rec->corrupt_frames++;
            }
            continue;
        }
        int zeros_after = res.end < file.len && all_zero(p + res.end, file.len - res.end);
        if (!last) {
            if (res.end < file.len && !zeros_after) {
                ff_error("wal: %s: %zu unreadable bytes after offset %zu skipped (corrupt frame)", path,
                         file.len - res.end, res.end);
                rec->corrupt_frames++;
            }
            if (have_keys <= 0) finish_segment(w, path); /* never written, or damaged */
            continue;
        }
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            rc = -errno;
            ff_error("wal: cannot open %s: %s", path, ff_strerror(rc));
            break;
        }
        if (res.end < file.len && !zeros_after) {
            ff_warn("wal: %s: torn tail of %zu bytes at offset %zu truncated (an unacknowledged write)", path,
                    file.len - res.end, res.end);
            rec->truncated_bytes += file.len - res.end;
            if (ftruncate(fd, (off_t)res.end) || fdatasync(fd)) {
                rc = -errno;
                ff_error("wal: cannot truncate %s: %s", path, ff_strerror(rc));
                close(fd);
                break;
            }
            file.len = res.end;
        }
        snprintf(w->path, sizeof w->path, "%s", path);
        w->fd = fd;
        w->size = res.end;
        w->zeroed_end = file.len; /* zeros written ahead, if any, stay */
        ff_wal_io_open(&w->io, fd, path, w->size);
    }
    ff_buf_free(&file);
    free_names(names, n);
    if (rc) return rc;
    w->next_seq = next_seq > w->min_next_seq ? next_seq : w->min_next_seq;
    /* No usable last segment: start one named after the next sequence number. */
    if (w->fd < 0) rc = create_segment(w);
    return rc;
}

static void *writer_main(void *arg);

int ff_wal_open(struct ff_wal **out, const struct ff_wal_opts *opts, struct ff_wal_recovery *rec)
{
    struct ff_wal *w = ff_calloc(1, sizeof *w);
    if (!w) return -ENOMEM;
    memset(rec, 0, sizeof *rec);
    w->fd = -1;
    w->io.dfd = -1;
    snprintf(w->dir, sizeof w->dir, "%s/wal", opts->dir);
    w->segment_bytes = opts->segment_bytes ? opts->segment_bytes : 64u << 20;
    w->on_durable = opts->on_durable;
    w->on_durable_arg = opts->on_durable_arg;
    w->on_forget = opts->on_forget;
    w->min_next_seq = opts->min_next_seq;
    ff_buf_init(&w->hdrs, (size_t)1 << 34);
    pthread_mutex_init(&w->keys_mu, NULL);
    pthread_cond_init(&w->keys_cv, NULL);
    int rc = ff_dedup_init(&w->dedup, opts->dedup_window_us);
    if (rc) goto fail;
    ff_dedup_set_budget(&w->dedup, opts->dedup_max_bytes);
    atomic_store(&ff_metrics.dedup_window_s, (uint64_t)(opts->dedup_window_us / 1000000));
    if ((mkdir(opts->dir, 0755) && errno != EEXIST) || (mkdir(w->dir, 0755) && errno != EEXIST)) {
        rc = -errno;
        ff_error("wal: cannot create %s: %s", w->dir, ff_strerror(rc));
        goto fail;
    }
    if ((rc = recover(w, rec))) goto fail;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->rotated, NULL);
    if ((rc = -pthread_create(&w->thread, NULL, writer_main, w))) goto fail;
    *out = w;
    return 0;
fail:
    if (w->fd >= 0) close(w->fd);
    ff_wal_io_close(&w->io);
    for (size_t i = 0; i < w->npending; i++) ff_dedup_keys_free(&w->pending[i]);
    ff_free(w->pending);
    ff_dedup_free(&w->dedup);
    ff_buf_free(&w->hdrs);
    ff_dedup_keybuf_free(&w->seg_keys);
    ff_dedup_keybuf_free(&w->keys_buf);
    pthread_mutex_destroy(&w->keys_mu);
    pthread_cond_destroy(&w->keys_cv);
    ff_free(w);
    return rc;
}

/* Compresses (when worth it) and checksums the batch's records into req->sealed. */
static int seal(struct ff_wal_req *r)
{
    const struct ff_batch *b = r->batch;
    const char *raw = b->records.data ? b->records.data : "";
    size_t len = b->records.len;
    if (len > MAX_RAW_PAYLOAD) return FF_ETOOBIG;
    r->raw_len = (uint32_t)len;
    r->codec = CODEC_NONE;
    if (len >= COMPRESS_MIN_BYTES && !ff_wal_zstd && len <= (size_t)LZ4_MAX_INPUT_SIZE) {
        int cap = LZ4_compressBound((int)len);
        char *out = ff_malloc((size_t)cap);
        int n = out ? LZ4_compress_default(raw, out, (int)len, cap) : 0;
        if (n > 0 && (size_t)n < len) {
            r->sealed = out;
            r->sealed_len = (uint32_t)n;
            r->codec = CODEC_LZ4;
            r->payload_hash = XXH3_64bits(out, (size_t)n);
            return 0;
        }
        ff_free(out);
    } else if (len >= COMPRESS_MIN_BYTES) {
        size_t cap = ZSTD_compressBound(len);
        char *out = ff_malloc(cap);
        if (out) {
            size_t n = ff_zstd_compress(out, cap, raw, len, 1);
            if (!ZSTD_isError(n) && n < len) {
                r->sealed = out;
                r->sealed_len = (uint32_t)n;
                r->codec = CODEC_ZSTD;
                r->payload_hash = XXH3_64bits(out, n);
                return 0;
            }
            ff_free(out);
        }
    }
    if (!(r->sealed = ff_malloc(len ? len : 1))) return -ENOMEM;
    memcpy(r->sealed, raw, len);
    r->sealed_len = (uint32_t)len;
    r->payload_hash = XXH3_64bits(r->sealed, len);
    return 0;
}

void ff_wal_submit(struct ff_wal *w, struct ff_wal_req *req)
{
    req->next = NULL;
    req->sealed = NULL;
    req->seal_status = seal(req);
    pthread_mutex_lock(&w->mu);
    if (w->tail) w->tail->next = req;
    else w->head = req;
    w->tail = req;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* 1 when the id was seen within the window, else remembers it (0), or -ENOMEM. */
static int seen_or_remember(struct ff_wal *w, uint64_t hash, unsigned check, int64_t now)
{
    struct ff_dedup_received *p = ff_grow(w->inserted, &w->cap_inserted, w->ninserted + 1, sizeof *p, 1024);
    if (!p) return -ENOMEM;
    w->inserted = p;
    uint64_t evictions = w->dedup.evictions;
    int rc = ff_dedup_check_insert(&w->dedup, hash, check, now, now);
    if (!rc) w->inserted[w->ninserted++] = (struct ff_dedup_received){hash, ff_dedup_stamp(now, check)};
    note_evictions(w, evictions, now);
    return rc;
}

static int add_iov(struct ff_wal *w, void *base, size_t len)
{
    if (!len) return 0;
    if (w->niov == w->cap_iov) {
        size_t cap = w->cap_iov ? w->cap_iov * 2 : 256;
        struct iovec *p = ff_realloc(w->iov, cap * sizeof *p);
        if (!p) return -ENOMEM;
        w->iov = p;
        w->cap_iov = cap;
    }
    w->iov[w->niov++] = (struct iovec){base, len};
    return 0;
}

/* Builds the group's frames: a header (and drop list) per submission in w->hdrs, and the
 * iovecs that interleave them with the sealed payloads. Returns the records kept. */
static int build_group(struct ff_wal *w, struct ff_wal_req *group, uint64_t *kept, int64_t now)
{
    struct ff_buf *h = &w->hdrs;
    ff_buf_reset(h);
    w->ninserted = 0;
    w->niov = 0;
    *kept = 0;
    uint64_t seq = w->next_seq;
    /* Headers first, recording offsets: w->hdrs may move while it grows. */
    size_t nreq = 0;
    for (struct ff_wal_req *r = group; r; r = r->next) nreq++;
    if (nreq > w->cap_hdr_off) {
        size_t *p = ff_realloc(w->hdr_off, nreq * sizeof *p);
        if (!p) return -ENOMEM;
        w->hdr_off = p;
        w->cap_hdr_off = nreq;
    }
    size_t *hdr_off = w->hdr_off;
    int rc = 0;
    size_t k = 0;
    for (struct ff_wal_req *r = group; r && !rc; r = r->next, k++) {
        const struct ff_batch *b = r->batch;
        r->stored = r->duplicates = r->quarantined = 0;
        hdr_off[k] = SIZE_MAX;
        if (r->seal_status || !b->nitems) continue; /* a request that could not be sealed fails alone */
        size_t start = h->len;
        if ((rc = ff_buf_reserve(h, FRAME_HDR))) break;
        h->len += FRAME_HDR;
        /* Look slots up a few items ahead: the set is large and its probes miss the cache. */
        for (uint32_t i = 0; i < b->nitems && i < 8; i++) ff_dedup_prefetch(&w->dedup, b->items[i].dedup_hash);
        uint32_t ndrop = 0;
        for (uint32_t i = 0; i < b->nitems && !rc; i++) {
            if (i + 8 < b->nitems) ff_dedup_prefetch(&w->dedup, b->items[i + 8].dedup_hash);
            uint64_t hash = b->items[i].dedup_hash;
            unsigned check = b->items[i].dedup_check;
            if (!hash) {
                r->quarantined++;
            } else if ((rc = seen_or_remember(w, hash, check, now)) == 1) {
                r->duplicates++;
                ndrop++;
                rc = ff_buf_put_u32(h, i);
            } else if (!rc) {
                r->stored++;
            }
        }
        if (rc) break;
        if (ndrop == b->nitems) {
            h->len = start; /* nothing of it is new: no frame at all */
            continue;
        }
        unsigned char *f = (unsigned char *)h->data + start;
        wr32(f, FRAME_MAGIC);
        wr32(f + 4, r->sealed_len);
        wr64(f + 8, seq);
        wr32(f + 16, b->nitems);
        wr32(f + 20, r->raw_len);
        f[24] = (unsigned char)r->codec, f[25] = (unsigned char)(r->codec >> 8), f[26] = f[27] = 0;
        wr32(f + 28, ndrop);
        wr64(f + 32, XXH3_64bits(f, 32) ^ XXH3_64bits(f + FRAME_HDR, (size_t)ndrop * 4) ^ r->payload_hash);
        hdr_off[k] = start;
        seq += b->nitems;
        *kept += b->nitems - ndrop;
    }
    /* Now that w->hdrs has stopped moving, point the iovecs at it. */
    k = 0;
    for (struct ff_wal_req *r = group; r && !rc; r = r->next, k++) {
        if (hdr_off[k] == SIZE_MAX) continue;
        const unsigned char *f = (const unsigned char *)w->hdrs.data + hdr_off[k];
        size_t hlen = FRAME_HDR + (size_t)rd32(f + 28) * 4;
        if (!(rc = add_iov(w, w->hdrs.data + hdr_off[k], hlen))) rc = add_iov(w, r->sealed, r->sealed_len);
    }
    if (!rc) w->next_seq_pending = seq;
    return rc;
}

static int write_group(struct ff_wal *w)
{
    size_t total = 0;
    for (size_t i = 0; i < w->niov; i++) total += w->iov[i].iov_len;
    int rc = 0;
    if (w->size > SEG_HDR && w->size + total > w->segment_bytes && (rc = rotate(w))) return rc;
    if (atomic_load(&w->inject_failures) > 0) {
        atomic_fetch_sub(&w->inject_failures, 1);
        return -ENOSPC;
    }
    zero_ahead(w, w->size + total);
    uint64_t t0 = ff_mono_ns();
    rc = ff_wal_io_append(&w->io, w->size, w->iov, w->niov, total);
    if (!rc) ff_hist_observe(&ff_metrics.wal_fsync_duration, ff_mono_ns() - t0);
    if (rc) {
        /* Cut back to the last acknowledged frame so the tail is clean for the next try. */
        if (ftruncate(w->fd, (off_t)w->size) == 0) (void)fdatasync(w->fd);
        w->zeroed_end = w->size;
        return rc;
    }
    w->size += total;
    if (w->zeroed_end < w->size) w->zeroed_end = w->size;
    w->next_seq = w->next_seq_pending;
    ff_counter_add(ff_metrics.wal_bytes_written, total);
    return 0;
}

static void commit_group(struct ff_wal *w, struct ff_wal_req *group)
{
    int64_t now = ff_now_us();
    uint64_t kept;
    int rc = build_group(w, group, &kept, now);
    if (!rc && w->niov) rc = write_group(w);
    /* Durable now: their keys belong in the segment's keys file. Out of memory here only
     * makes that file incomplete, so the segment is kept whole for the window. */
    for (size_t i = 0; !rc && i < w->ninserted; i++)
        if (ff_dedup_file_add(&w->seg_keys, w->inserted[i].hash, w->inserted[i].received_us)) {
            w->seg_keys_lost = 1;
            break;
        }
    if (!rc && w->on_durable) {
        size_t k = 0;
        for (struct ff_wal_req *r = group; r; r = r->next, k++) {
            if (w->hdr_off[k] == SIZE_MAX) continue;
            const unsigned char *f = (const unsigned char *)w->hdrs.data + w->hdr_off[k];
            const struct ff_batch *b = r->batch;
            w->on_durable(w->on_durable_arg, rd64(f + 8), b->records.data ? b->records.data : "", b->records.len,
                          (const uint32_t *)(const void *)(f + FRAME_HDR), rd32(f + 28));
        }
    }
    if (rc) {
        for (size_t i = 0; i < w->ninserted; i++) ff_dedup_remove(&w->dedup, w->inserted[i].hash);
        ff_counter_add(ff_metrics.wal_write_errors, 1);
        static int64_t last_report;
        if (now - last_report > 1000000) {
            ff_error("wal: write to %s failed: %s; requests answered 503 until it succeeds", w->path, ff_strerror(rc));
            last_report = now;
        }
    }
    if (w->hdrs.cap > (16u << 20)) ff_buf_free(&w->hdrs);
    while (group) {
        struct ff_wal_req *next = group->next;
        ff_free(group->sealed);
        group->sealed = NULL;
        group->status = group->seal_status ? group->seal_status : rc;
        if (group->status) group->stored = group->duplicates = group->quarantined = 0;
        group->done(group);
        group = next;
    }
}

static void *writer_main(void *arg)
{
    struct ff_wal *w = arg;
    pthread_setname_np(pthread_self(), "ff-wal"); /* for top -H and perf: which stage costs what */
    insert_pending_keys(w);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping && !w->rotate_req) pthread_cond_wait(&w->cv, &w->mu);
        if (w->rotate_req) {
            /* Between groups, so no frame is half in the old segment. */
            if (w->size > SEG_HDR) {
                w->rotate_rc = rotate(w);
            } else {
                w->rotate_rc = 0;
            }
            w->rotate_req = 0;
            pthread_cond_broadcast(&w->rotated);
            continue;
        }
        if (!w->head) break;
        struct ff_wal_req *group = w->head;
        w->head = w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        commit_group(w, group);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

void ff_wal_close(struct ff_wal *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    if (w->keys_started) { /* the last keys file finished first */
        pthread_mutex_lock(&w->keys_mu);
        w->keys_stop = 1;
        pthread_cond_signal(&w->keys_cv);
        pthread_mutex_unlock(&w->keys_mu);
        pthread_join(w->keys_thread, NULL);
    }
    pthread_mutex_destroy(&w->keys_mu);
    pthread_cond_destroy(&w->keys_cv);
    ff_io_scratch_free(&w->keys_scratch);
    if (w->fd >= 0) close(w->fd);
    ff_wal_io_close(&w->io);
    ff_dedup_free(&w->dedup);
    ff_buf_free(&w->hdrs);
    ff_dedup_keybuf_free(&w->seg_keys);
    ff_dedup_keybuf_free(&w->keys_buf);
    ff_free(w->inserted);
    ff_free(w->hdr_off);
    ff_free(w->iov);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->rotated);
    ff_free(w);
}

void ff_wal_inject_write_failures(struct ff_wal *w, int n)
{
    atomic_store(&w->inject_failures, n);
}

/* ---- erasure ---- */

/* Rewrites one frame whose records matching `match` are erased: their bytes become an empty
 * event record and their indexes join the drop list, so sequence numbers stay as they were.
 * Appends the new frame (or the old one, unchanged) to `out`; adds to *erased. */
static int erase_frame(const unsigned char *h, size_t total, int (*match)(void *, const struct ff_record *), void *arg,
                       struct ff_buf *out, struct ff_buf *tmp, uint64_t *erased)
{
    uint32_t count = rd32(h + 16), ndrop = rd32(h + 28);
    const unsigned char *drops = h + FRAME_HDR;
    const char *payload;
    size_t plen;
    if (frame_payload(h, tmp, &payload, &plen)) return ff_buf_append(out, h, total); /* not ours to judge here */
    /* First pass: which records go. */
    uint32_t *gone = ff_malloc(((size_t)count + ndrop + 1) * sizeof *gone);
    if (!gone) return -ENOMEM;
    uint32_t ngone = 0, d = 0;
    size_t roff = 0;
    for (uint32_t i = 0; i < count; i++) {
        struct ff_record rec;
        if (ff_record_decode(payload, plen, &roff, &rec)) {
            ff_free(gone);
            return ff_buf_append(out, h, total);
        }
        int dropped = d < ndrop && rd32(drops + 4 * d) == i;
        if (dropped) d++;
        if (!dropped && match(arg, &rec)) gone[ngone++] = i;
    }
    if (!ngone) {
        ff_free(gone);
        return ff_buf_append(out, h, total);
    }
    *erased += ngone;
    /* Second pass: the new payload, uncompressed. */
    struct ff_buf np;
    ff_buf_init(&np, MAX_RAW_PAYLOAD);
    struct ff_event empty;
    memset(&empty, 0, sizeof empty);
    empty.type = FF_EV_TRACK;
    empty.format = FF_FMT_SEGMENT;
    empty.timestamp_us = empty.original_timestamp_us = empty.sent_at_us = empty.received_at_us = FF_TIME_NONE;
    roff = 0;
    uint32_t g = 0;
    int rc = 0;
    for (uint32_t i = 0; i < count && !rc; i++) {
        size_t start = roff;
        struct ff_record rec;
        ff_record_decode(payload, plen, &roff, &rec);
        if (g < ngone && gone[g] == i) {
            g++;
            rc = ff_event_encode(&np, &empty);
        } else {
            rc = ff_buf_append(&np, payload + start, roff - start);
        }
    }
    /* The drop list: the old one and the erased, ascending. */
    uint32_t *all = ff_malloc(((size_t)ndrop + ngone + 1) * sizeof *all);
    uint32_t nall = 0, a = 0, b = 0;
    if (!all) rc = -ENOMEM;
    while (!rc && (a < ndrop || b < ngone)) {
        uint32_t x = a < ndrop ? rd32(drops + 4 * a) : UINT32_MAX, y = b < ngone ? gone[b] : UINT32_MAX;
        if (x <= y) all[nall++] = x, a++;
        else all[nall++] = y, b++;
    }
    if (!rc && np.len > UINT32_MAX) rc = FF_ETOOBIG;
    if (!rc) {
        size_t at = out->len;
        rc = ff_buf_reserve(out, FRAME_HDR + (size_t)nall * 4 + np.len);
        if (!rc) {
            unsigned char *f = (unsigned char *)out->data + at;
            wr32(f, FRAME_MAGIC);
            wr32(f + 4, (uint32_t)np.len);
            memcpy(f + 8, h + 8, 8); /* first seq */
            wr32(f + 16, count);
            wr32(f + 20, (uint32_t)np.len);
            f[24] = f[25] = f[26] = f[27] = 0; /* codec none */
            wr32(f + 28, nall);
            for (uint32_t i = 0; i < nall; i++) wr32(f + FRAME_HDR + 4 * i, all[i]);
            memcpy(f + FRAME_HDR + (size_t)nall * 4, np.data ? np.data : "", np.len);
            wr64(f + 32, XXH3_64bits(f, 32) ^ XXH3_64bits(f + FRAME_HDR, (size_t)nall * 4) ^
                             XXH3_64bits(f + FRAME_HDR + (size_t)nall * 4, np.len));
            out->len = at + FRAME_HDR + (size_t)nall * 4 + np.len;
        }
    }
    ff_buf_free(&np);
    ff_free(gone);
    ff_free(all);
    return rc;
}

/* Rewrites one closed segment without the matching records; unchanged segments are left. */
static int erase_segment(const char *path, int (*match)(void *, const struct ff_record *), void *arg, uint64_t *erased)
{
    struct ff_buf in, out, tmp;
    ff_buf_init(&in, (size_t)1 << 33);
    ff_buf_init(&out, (size_t)1 << 33);
    ff_buf_init(&tmp, MAX_RAW_PAYLOAD);
    int rc = read_segment(path, &in);
    /* deleted since it was listed: every record in it had gone to parts (the writer deletes
     * only those), which the erasure rewrites next */
    if (rc == -ENOENT) rc = 0, in.len = 0;
    uint64_t before = *erased;
    const unsigned char *p = (const unsigned char *)in.data;
    if (!rc && (in.len < SEG_HDR || memcmp(p, seg_magic, 8) != 0)) goto done; /* not a segment: left alone */
    if (!rc) rc = ff_buf_append(&out, p, SEG_HDR);
    size_t off = SEG_HDR, total;
    while (!rc && off < in.len) {
        if (frame_check(p + off, in.len - off, &total)) {
            /* Unreadable bytes are kept as they are, for the checker. */
            size_t next = next_frame(p, in.len, off + 1);
            size_t upto = next ? next : in.len;
            rc = ff_buf_append(&out, p + off, upto - off);
            off = upto;
            continue;
        }
        rc = erase_frame(p + off, total, match, arg, &out, &tmp, erased);
        off += total;
    }
    if (!rc && *erased != before) {
        char tmp_path[4500];
        snprintf(tmp_path, sizeof tmp_path, "%s.erase", path);
        int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) rc = -errno;
        if (!rc) rc = ff_io_write_all(fd, out.data, out.len);
        if (!rc) rc = ff_io_fsync(fd);
        if (fd >= 0) close(fd);
        if (!rc) rc = ff_io_rename(tmp_path, path);
        if (rc) unlink(tmp_path);
    }
done:
    ff_buf_free(&in);
    ff_buf_free(&out);
    ff_buf_free(&tmp);
    return rc;
}

int ff_wal_erase(struct ff_wal *w, int (*match)(void *arg, const struct ff_record *rec), void *arg, uint64_t *erased)
{
    *erased = 0;
    /* The segment being written becomes a closed one, so it can be rewritten too. */
    pthread_mutex_lock(&w->mu);
    w->rotate_req = 1;
    pthread_cond_signal(&w->cv);
    while (w->rotate_req) pthread_cond_wait(&w->rotated, &w->mu);
    int rc = w->rotate_rc;
    char current[4400];
    snprintf(current, sizeof current, "%s", w->path);
    pthread_mutex_unlock(&w->mu);
    if (rc) return rc;
    /* the closed segments' keys files are all written before any segment is rewritten */
    pthread_mutex_lock(&w->keys_mu);
    keys_wait_idle(w);
    pthread_mutex_unlock(&w->keys_mu);
    char **names;
    size_t n;
    if ((rc = list_segments(w->dir, &names, &n))) return rc;
    for (size_t i = 0; !rc && i < n; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", w->dir, names[i]);
        if (strcmp(path, current) == 0) continue; /* opened after the erasure began */
        rc = erase_segment(path, match, arg, erased);
    }
    if (!rc && *erased) rc = ff_io_fsync_dir(w->dir);
    free_names(names, n);
    return rc;
}

/* ---- checking ---- */

long ff_wal_check(const char *dir, void (*report)(void *arg, const char *what), void *arg, uint64_t *torn_bytes)
{
    char waldir[4200], **names;
    size_t n;
    *torn_bytes = 0;
    int rc = list_wal(dir, waldir, &names, &n);
    if (rc) return rc;
    struct ff_buf file;
    ff_buf_init(&file, (size_t)1 << 33);
    long damaged = 0;
    char msg[4700];
    for (size_t i = 0; i < n; i++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/%s", waldir, names[i]);
        if ((rc = read_segment(path, &file))) {
            snprintf(msg, sizeof msg, "%s: cannot read: %s", path, ff_strerror(rc));
            report(arg, msg);
            damaged++;
            continue;
        }
        const unsigned char *p = (const unsigned char *)file.data;
        uint64_t last = 0;
        int stop = 0;
        struct seg_scan res;
        scan_segment(path, p, file.len, NULL, NULL, &last, &stop, &res);
        if (!res.header_ok) {
            if (file.len > SEG_HDR && !all_zero(p, file.len)) {
                snprintf(msg, sizeof msg, "%s: not a footfall WAL segment (bad header at offset 0)", path);
                report(arg, msg);
                damaged++;
            }
            continue;
        }
        if (res.corrupt_bytes || res.frames_bad) {
            snprintf(msg, sizeof msg, "%s: %zu unreadable bytes between intact frames, %llu frames that do not decode",
                     path, res.corrupt_bytes, (unsigned long long)res.frames_bad);
            report(arg, msg);
            damaged++;
        }
        if (res.end < file.len && !all_zero(p + res.end, file.len - res.end)) {
            if (i + 1 == n) {
                snprintf(msg, sizeof msg, "%s: torn tail of %zu bytes at offset %zu (an unacknowledged write)", path,
                         file.len - res.end, res.end);
                *torn_bytes += file.len - res.end;
            } else {
                snprintf(msg, sizeof msg, "%s: %zu unreadable bytes after offset %zu", path, file.len - res.end, res.end);
                damaged++;
            }
            report(arg, msg);
        }
    }
    ff_buf_free(&file);
    free_names(names, n);
    /* Keys files: a damaged one means retries of its events would be stored again. */
    if ((rc = list_files(waldir, ".dedup", &names, &n))) return rc;
    for (size_t i = 0; i < n; i++) {
        char path[4300], err[4600];
        uint64_t count;
        snprintf(path, sizeof path, "%s/%s", waldir, names[i]);
        if (ff_dedup_file_check(path, &count, err, sizeof err)) {
            report(arg, err);
            damaged++;
        }
    }
    free_names(names, n);
    return damaged;
}
