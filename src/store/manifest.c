/* manifest.c - the list of live parts (format in manifest.h). */
#include "store/manifest.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/binread.h"
#include "core/errors.h"
#include "core/fileio.h"

/* Version 2 counts 5 wire formats; version 1 (read, never written) counted the first 4. */
static const char magic[8] = {'F', 'F', 'M', 'A', 'N', 'I', 'F', '2'};
static const char magic_v1[8] = {'F', 'F', 'M', 'A', 'N', 'I', 'F', '1'};
#define V1_FORMATS 4

void ff_manifest_free(struct ff_manifest *m)
{
    ff_free(m->parts);
    memset(m, 0, sizeof *m);
}

int ff_manifest_add(struct ff_manifest *m, const struct ff_manifest_part *p)
{
    struct ff_manifest_part *np = ff_realloc(m->parts, (m->nparts + 1) * sizeof *np);
    if (!np) return -ENOMEM;
    m->parts = np;
    m->parts[m->nparts++] = *p;
    return 0;
}

int ff_manifest_copy(struct ff_manifest *dst, const struct ff_manifest *src)
{
    *dst = *src;
    dst->parts = NULL;
    if (!src->nparts) return 0;
    if (!(dst->parts = ff_malloc(src->nparts * sizeof *dst->parts))) return -ENOMEM;
    memcpy(dst->parts, src->parts, src->nparts * sizeof *dst->parts);
    return 0;
}

long ff_manifest_find(const struct ff_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->nparts; i++)
        if (strcmp(m->parts[i].name, name) == 0) return (long)i;
    return -1;
}

int ff_manifest_load(const char *dir, struct ff_manifest *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    struct ff_buf b;
    ff_buf_init(&b, (size_t)1 << 30);
    int rc = ff_io_read_file(path, &b);
    if (rc == -ENOENT) {
        ff_buf_free(&b);
        m->next_id = 1;
        return 0;
    }
    if (rc) {
        snprintf(err, errlen, "%s: %s", path, ff_strerror(rc));
        ff_buf_free(&b);
        return rc;
    }
    struct ff_reader r = {(const unsigned char *)b.data, b.len, 8};
    uint32_t n = 0;
    uint64_t sum = 0;
    int nformats = FF_FMT_COUNT;
    if (b.len >= 16 && memcmp(b.data, magic_v1, 8) == 0) nformats = V1_FORMATS;
    else if (b.len < 16 || memcmp(b.data, magic, 8)) {
        snprintf(err, errlen, "%s: not a footfall manifest (bad magic at offset 0)", path);
        rc = FF_ECORRUPT;
        goto out;
    }
    r.len = b.len - 8;
    {
        struct ff_reader s = {(const unsigned char *)b.data, b.len, b.len - 8};
        ff_rd_u64(&s, &sum);
    }
    if (XXH3_64bits(b.data, b.len - 8) != sum) {
        snprintf(err, errlen, "%s: checksum mismatch (the file's %zu bytes are damaged)", path, b.len);
        rc = FF_ECORRUPT;
        goto out;
    }
    rc = ff_rd_u64(&r, &m->generation) || ff_rd_u64(&r, &m->wal_seq) || ff_rd_u64(&r, &m->next_id) ? FF_ECORRUPT : 0;
    for (int f = 0; f < nformats && !rc; f++) rc = ff_rd_u64(&r, &m->events[f]) ? FF_ECORRUPT : 0;
    for (int f = 0; f < nformats && !rc; f++) rc = ff_rd_u64(&r, &m->quarantined[f]) ? FF_ECORRUPT : 0;
    if (!rc && (ff_rd_u32(&r, &n) || n > b.len)) rc = FF_ECORRUPT;
    if (!rc && n && !(m->parts = ff_calloc(n, sizeof *m->parts))) rc = -ENOMEM;
    for (uint32_t i = 0; i < n && !rc; i++) {
        struct ff_manifest_part *p = &m->parts[i];
        struct ff_str name;
        uint32_t day;
        if (ff_rd_str(&r, &name) || name.len == 0 || name.len >= sizeof p->name || memchr(name.p, '/', name.len) ||
            memchr(name.p, 0, name.len) || ff_rd_u8(&r, &p->kind) || ff_rd_u32(&r, &day) || ff_rd_u64(&r, &p->rows) ||
            ff_rd_u64(&r, &p->bytes) || ff_rd_i64(&r, &p->min_time) || ff_rd_i64(&r, &p->max_time) ||
            ff_rd_u64(&r, &p->min_seq) || ff_rd_u64(&r, &p->max_seq) ||
            (p->kind != FF_PART_EVENTS && p->kind != FF_PART_QUARANTINE)) {
            rc = FF_ECORRUPT;
            break;
        }
        memcpy(p->name, name.p, name.len);
        p->day = (int32_t)day;
        m->nparts++;
    }
    if (!rc && r.off != r.len) rc = FF_ECORRUPT;
    if (rc == FF_ECORRUPT) snprintf(err, errlen, "%s: malformed entry near offset %zu", path, r.off);
out:
    ff_buf_free(&b);
    if (rc) ff_manifest_free(m);
    return rc;
}

int ff_manifest_publish(const char *dir, struct ff_manifest *m)
{
    struct ff_buf b;
    ff_buf_init(&b, (size_t)1 << 30);
    int rc = ff_buf_append(&b, magic, 8);
    if (!rc) rc = ff_buf_put_u64(&b, m->generation + 1);
    if (!rc) rc = ff_buf_put_u64(&b, m->wal_seq);
    if (!rc) rc = ff_buf_put_u64(&b, m->next_id);
    for (int f = 0; f < FF_FMT_COUNT && !rc; f++) rc = ff_buf_put_u64(&b, m->events[f]);
    for (int f = 0; f < FF_FMT_COUNT && !rc; f++) rc = ff_buf_put_u64(&b, m->quarantined[f]);
    if (!rc) rc = ff_buf_put_u32(&b, (uint32_t)m->nparts);
    for (size_t i = 0; i < m->nparts && !rc; i++) {
        const struct ff_manifest_part *p = &m->parts[i];
        size_t len = strnlen(p->name, sizeof p->name);
        rc = ff_buf_put_varint(&b, len);
        if (!rc) rc = ff_buf_append(&b, p->name, len);
        if (!rc) rc = ff_buf_put_u8(&b, p->kind);
        if (!rc) rc = ff_buf_put_u32(&b, (uint32_t)p->day);
        if (!rc) rc = ff_buf_put_u64(&b, p->rows);
        if (!rc) rc = ff_buf_put_u64(&b, p->bytes);
        if (!rc) rc = ff_buf_put_u64(&b, (uint64_t)p->min_time);
        if (!rc) rc = ff_buf_put_u64(&b, (uint64_t)p->max_time);
        if (!rc) rc = ff_buf_put_u64(&b, p->min_seq);
        if (!rc) rc = ff_buf_put_u64(&b, p->max_seq);
    }
    if (!rc) rc = ff_buf_put_u64(&b, XXH3_64bits(b.data, b.len));
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    if (!rc) rc = ff_io_write_file_atomic(path, b.data, b.len);
    ff_buf_free(&b);
    if (rc >= 0) m->generation++;
    return rc;
}
