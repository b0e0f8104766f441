/* wal.c - the write-ahead log (API in wal.h).
 *
 * Files: DIR/wal/<first-seq, 20 digits>.wal, one segment after another. A segment is a
 * header followed by frames; a frame is what one group commit wrote.
 *
 *   segment header (16 bytes)
 *     0  8  magic "FFWAL\0\0\0"
 *     8  4  format version (1), little-endian
 *    12  4  reserved, 0
 *
 *   frame
 *     0  4  magic 0x4d415246 ("FRAM" as bytes F R A M)
 *     4  4  payload length in bytes (le)
 *     8  8  sequence number of the frame's first record (le)
 *    16  4  number of records in the payload (le)
 *    20  4  flags, 0 (reserved for compression)
 *    24  8  XXH3-64 of the payload, seeded with the XXH3-64 of header bytes 0..23 (le)
 *    32  …  payload: records back to back, as event.h encodes them
 *
 * Records are numbered consecutively across frames and segments.
 *
 * Writing: frames are written with pwrite at the end of the last acknowledged frame and
 * made durable with fdatasync before any submitter of the frame is called back. A new
 * segment's file and directory entry are fsync'd before the first frame goes into it.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "store/dedup.h"

#define SEG_HDR 16
#define FRAME_HDR 32
#define FRAME_MAGIC 0x4d415246u
static const char seg_magic[8] = {'F', 'F', 'W', 'A', 'L', 0, 0, 0};

struct ff_wal {
    char dir[4096];          /* DIR/wal */
    size_t segment_bytes;
    int fd;                  /* last segment */
    char path[4400];
    uint64_t size;           /* bytes of the last segment that hold acknowledged frames */
    uint64_t next_seq;
    struct ff_dedup dedup;
    struct ff_buf frame;
    uint64_t *inserted;      /* dedup keys added by the group being written, to undo on failure */
    size_t ninserted, cap_inserted;
    atomic_int inject_failures;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ff_wal_req *head, *tail;
    int stopping;
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

static uint64_t frame_checksum(const unsigned char *hdr, const unsigned char *payload, size_t len)
{
    return XXH3_64bits_withSeed(payload, len, XXH3_64bits(hdr, 24));
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted list of segment file names in `waldir`; caller frees each and the array. */
static int list_segments(const char *waldir, char ***names, size_t *n)
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
        if (l != 24 || strcmp(e->d_name + 20, ".wal") != 0) continue;
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

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) ff_free(names[i]);
    ff_free(names);
}

/* Walks the frames of one mapped segment. Returns the offset where intact frames end. */
static size_t scan_segment(const char *path, const unsigned char *p, size_t len, ff_wal_visit_fn visit, void *arg,
                           uint64_t *last_seq, int *stop, uint64_t *frames_bad)
{
    if (len < SEG_HDR || memcmp(p, seg_magic, 8) != 0 || rd32(p + 8) != 1) {
        if (len) ff_error("wal: %s: not a footfall WAL segment of version 1 (offset 0)", path);
        if (frames_bad && len) (*frames_bad)++;
        return 0;
    }
    size_t off = SEG_HDR;
    while (off + FRAME_HDR <= len) {
        const unsigned char *h = p + off;
        uint32_t plen = rd32(h + 4), count = rd32(h + 16);
        if (rd32(h) != FRAME_MAGIC || plen > len - off - FRAME_HDR) break;
        if (frame_checksum(h, h + FRAME_HDR, plen) != rd64(h + 24)) break;
        uint64_t seq = rd64(h + 8);
        size_t roff = 0;
        const char *payload = (const char *)h + FRAME_HDR;
        uint32_t i = 0;
        for (; i < count; i++) {
            struct ff_record rec;
            if (ff_record_decode(payload, plen, &roff, &rec)) {
                ff_error("wal: %s: record %u of the frame at offset %zu does not decode (checksum was good)", path, i,
                         off);
                if (frames_bad) (*frames_bad)++;
                break;
            }
            if (visit && !*stop) {
                int r = visit(arg, seq + i, &rec);
                if (r) *stop = r;
            }
        }
        if (count) *last_seq = seq + count - 1;
        off += FRAME_HDR + plen;
    }
    return off;
}

struct mapped {
    int fd;
    void *p;
    size_t len;
};

static int map_file(const char *path, int writable, struct mapped *m)
{
    m->fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (m->fd < 0) return -errno;
    struct stat st;
    if (fstat(m->fd, &st)) {
        int rc = -errno;
        close(m->fd);
        return rc;
    }
    m->len = (size_t)st.st_size;
    m->p = NULL;
    if (m->len) {
        m->p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, m->fd, 0);
        if (m->p == MAP_FAILED) {
            int rc = -errno;
            close(m->fd);
            return rc;
        }
    }
    return 0;
}

static void unmap_file(struct mapped *m)
{
    if (m->p) munmap(m->p, m->len);
    if (m->fd >= 0) close(m->fd);
}

int ff_wal_scan(const char *dir, ff_wal_visit_fn visit, void *arg)
{
    char waldir[4200];
    snprintf(waldir, sizeof waldir, "%s/wal", dir);
    char **names;
    size_t n;
    int rc = list_segments(waldir, &names, &n), stop = 0;
    for (size_t i = 0; !rc && !stop && i < n; i++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/%s", waldir, names[i]);
        struct mapped m;
        if ((rc = map_file(path, 0, &m))) break;
        uint64_t last = 0;
        scan_segment(path, m.p, m.len, visit, arg, &last, &stop, NULL);
        unmap_file(&m);
    }
    free_names(names, n);
    return rc ? rc : stop;
}

static int create_segment(struct ff_wal *w)
{
    snprintf(w->path, sizeof w->path, "%s/%020" PRIu64 ".wal", w->dir, w->next_seq);
    int fd = open(w->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    unsigned char hdr[SEG_HDR] = {0};
    memcpy(hdr, seg_magic, 8);
    wr32(hdr + 8, 1);
    int rc = 0;
    if (pwrite(fd, hdr, SEG_HDR, 0) != SEG_HDR) rc = errno ? -errno : -EIO;
    if (!rc && fdatasync(fd)) rc = -errno;
    if (!rc) rc = fsync_dir(w->dir);
    if (rc) {
        close(fd);
        unlink(w->path);
        return rc;
    }
    if (w->fd >= 0) close(w->fd);
    w->fd = fd;
    w->size = SEG_HDR;
    return 0;
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
        if (ev->received_at_us + c->w->dedup.window_us > c->now_us)
            ff_dedup_insert(&c->w->dedup, ff_dedup_hash(ev->write_key, ev->message_id), ev->received_at_us, c->now_us);
    } else {
        c->rec->quarantined[r->u.q.format]++;
    }
    return 0;
}

static int recover(struct ff_wal *w, struct ff_wal_recovery *rec)
{
    char **names;
    size_t n;
    int rc = list_segments(w->dir, &names, &n);
    if (rc) return rc;
    struct recover_ctx c = {w, rec, ff_now_us()};
    uint64_t last_seq = 0;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/%s", w->dir, names[i]);
        struct mapped m;
        if ((rc = map_file(path, i + 1 == n, &m))) {
            ff_error("wal: cannot read %s: %s", path, ff_strerror(rc));
            break;
        }
        int stop = 0;
        uint64_t seg_last = 0, bad = 0;
        size_t end = scan_segment(path, m.p, m.len, recover_visit, &c, &seg_last, &stop, &bad);
        if (seg_last) last_seq = seg_last, any = 1;
        rec->segments++;
        if (i + 1 < n) {
            if (end < m.len || bad) {
                ff_error("wal: %s: unreadable data from offset %zu to %zu skipped (corrupt frame)", path, end, m.len);
                rec->corrupt_frames++;
            }
        } else if (end < SEG_HDR) {
            /* A segment whose header never made it: created but never written to. */
            ff_warn("wal: %s: incomplete segment header; recreating it", path);
            rec->truncated_bytes += m.len;
            unmap_file(&m);
            unlink(path);
            break;
        } else {
            if (end < m.len) {
                ff_warn("wal: %s: torn tail of %zu bytes at offset %zu truncated (an unacknowledged write)", path,
                        m.len - end, end);
                rec->truncated_bytes += m.len - end;
                if (ftruncate(m.fd, (off_t)end) || fdatasync(m.fd)) {
                    rc = -errno;
                    ff_error("wal: cannot truncate %s: %s", path, ff_strerror(rc));
                    unmap_file(&m);
                    break;
                }
            }
            snprintf(w->path, sizeof w->path, "%s", path);
            w->fd = dup(m.fd);
            w->size = end;
        }
        unmap_file(&m);
    }
    free_names(names, n);
    if (rc) return rc;
    w->next_seq = any ? last_seq + 1 : 1;
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
    snprintf(w->dir, sizeof w->dir, "%s/wal", opts->dir);
    w->segment_bytes = opts->segment_bytes ? opts->segment_bytes : 64u << 20;
    ff_buf_init(&w->frame, (size_t)1 << 34);
    int rc = ff_dedup_init(&w->dedup, opts->dedup_window_us);
    if (rc) goto fail;
    if ((mkdir(opts->dir, 0755) && errno != EEXIST) || (mkdir(w->dir, 0755) && errno != EEXIST)) {
        rc = -errno;
        ff_error("wal: cannot create %s: %s", w->dir, ff_strerror(rc));
        goto fail;
    }
    if ((rc = recover(w, rec))) goto fail;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if ((rc = -pthread_create(&w->thread, NULL, writer_main, w))) goto fail;
    *out = w;
    return 0;
fail:
    if (w->fd >= 0) close(w->fd);
    ff_dedup_free(&w->dedup);
    ff_buf_free(&w->frame);
    ff_free(w);
    return rc;
}

void ff_wal_submit(struct ff_wal *w, struct ff_wal_req *req)
{
    req->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->tail) w->tail->next = req;
    else w->head = req;
    w->tail = req;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int remember(struct ff_wal *w, uint64_t hash, int64_t now)
{
    if (w->ninserted == w->cap_inserted) {
        size_t cap = w->cap_inserted ? w->cap_inserted * 2 : 1024;
        uint64_t *p = ff_realloc(w->inserted, cap * sizeof *p);
        if (!p) return -ENOMEM;
        w->inserted = p;
        w->cap_inserted = cap;
    }
    int rc = ff_dedup_insert(&w->dedup, hash, now, now);
    if (!rc) w->inserted[w->ninserted++] = hash;
    return rc;
}

/* Builds the group's frame: every record not already seen, in submission order. */
static int build_frame(struct ff_wal *w, struct ff_wal_req *group, uint32_t *count, int64_t now)
{
    struct ff_buf *f = &w->frame;
    ff_buf_reset(f);
    w->ninserted = 0;
    *count = 0;
    int rc = ff_buf_reserve(f, FRAME_HDR);
    if (rc) return rc;
    f->len = FRAME_HDR;
    for (struct ff_wal_req *r = group; r; r = r->next) {
        const struct ff_batch *b = r->batch;
        r->stored = r->duplicates = r->quarantined = 0;
        for (uint32_t i = 0; i < b->nitems; i++) {
            const struct ff_batch_item *it = &b->items[i];
            if (it->dedup_hash) {
                if (ff_dedup_contains(&w->dedup, it->dedup_hash, now)) {
                    r->duplicates++;
                    continue;
                }
                if ((rc = remember(w, it->dedup_hash, now))) return rc;
                r->stored++;
            } else {
                r->quarantined++;
            }
            if ((rc = ff_buf_append(f, b->records.data + it->off, it->len))) return rc;
            (*count)++;
        }
    }
    return 0;
}

static int write_frame(struct ff_wal *w, uint32_t count)
{
    struct ff_buf *f = &w->frame;
    unsigned char *h = (unsigned char *)f->data;
    size_t plen = f->len - FRAME_HDR;
    if (plen > UINT32_MAX) return FF_ETOOBIG;
    wr32(h, FRAME_MAGIC);
    wr32(h + 4, (uint32_t)plen);
    wr64(h + 8, w->next_seq);
    wr32(h + 16, count);
    wr32(h + 20, 0);
    wr64(h + 24, frame_checksum(h, h + FRAME_HDR, plen));

    int rc = 0;
    if (w->size > SEG_HDR && w->size + f->len > w->segment_bytes && (rc = create_segment(w))) return rc;
    if (atomic_load(&w->inject_failures) > 0) {
        atomic_fetch_sub(&w->inject_failures, 1);
        return -ENOSPC;
    }
    size_t done = 0;
    while (done < f->len) {
        ssize_t n = pwrite(w->fd, f->data + done, f->len - done, (off_t)(w->size + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            break;
        }
        done += (size_t)n;
    }
    uint64_t t0 = ff_mono_ns();
    if (!rc && fdatasync(w->fd)) rc = -errno;
    if (!rc) ff_hist_observe(&ff_metrics.wal_fsync_duration, ff_mono_ns() - t0);
    if (rc) {
        /* Cut back to the last acknowledged frame so the tail is clean for the next try. */
        if (ftruncate(w->fd, (off_t)w->size) == 0) (void)fdatasync(w->fd);
        return rc;
    }
    w->size += f->len;
    w->next_seq += count;
    ff_counter_add(ff_metrics.wal_bytes_written, f->len);
    return 0;
}

static void commit_group(struct ff_wal *w, struct ff_wal_req *group)
{
    int64_t now = ff_now_us();
    uint32_t count;
    int rc = build_frame(w, group, &count, now);
    if (!rc && count) rc = write_frame(w, count);
    if (rc) {
        for (size_t i = 0; i < w->ninserted; i++) ff_dedup_remove(&w->dedup, w->inserted[i]);
        ff_counter_add(ff_metrics.wal_write_errors, 1);
        static int64_t last_report;
        if (now - last_report > 1000000) {
            ff_error("wal: write to %s failed: %s; requests answered 503 until it succeeds", w->path, ff_strerror(rc));
            last_report = now;
        }
    }
    /* Shrink the frame buffer after a huge import so one big request does not pin memory. */
    if (w->frame.cap > (64u << 20)) ff_buf_free(&w->frame);
    while (group) {
        struct ff_wal_req *next = group->next;
        group->status = rc;
        if (rc) group->stored = group->duplicates = group->quarantined = 0;
        group->done(group);
        group = next;
    }
}

static void *writer_main(void *arg)
{
    struct ff_wal *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping) pthread_cond_wait(&w->cv, &w->mu);
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
    if (w->fd >= 0) close(w->fd);
    ff_dedup_free(&w->dedup);
    ff_buf_free(&w->frame);
    ff_free(w->inserted);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    ff_free(w);
}

void ff_wal_inject_write_failures(struct ff_wal *w, int n)
{
    atomic_store(&w->inject_failures, n);
}
