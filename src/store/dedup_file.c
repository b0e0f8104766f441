/* dedup_file.c - keys files of finished WAL segments (format in dedup_file.h). */
#include "store/dedup_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "core/binread.h"
#include "core/errors.h"
#include "core/fileio.h"

#define HDR 24
static const char magic[8] = {'F', 'F', 'D', 'E', 'D', 'U', 'P', 0};

int ff_dedup_file_add(struct ff_buf *entries, uint64_t key, int64_t received_us)
{
    int rc = ff_buf_put_u64(entries, key);
    return rc ? rc : ff_buf_put_u64(entries, (uint64_t)received_us);
}

int ff_dedup_file_write(const char *path, const struct ff_buf *entries)
{
    struct ff_buf f;
    ff_buf_init(&f, (size_t)1 << 40);
    int rc = ff_buf_append(&f, magic, sizeof magic);
    if (!rc) rc = ff_buf_put_u32(&f, 1);
    if (!rc) rc = ff_buf_put_u32(&f, 0);
    if (!rc) rc = ff_buf_put_u64(&f, entries->len / FF_DEDUP_FILE_ENTRY);
    if (!rc && entries->len) rc = ff_buf_append(&f, entries->data, entries->len);
    if (!rc) rc = ff_buf_put_u64(&f, XXH3_64bits(f.data, f.len));
    if (!rc) rc = ff_io_write_file_atomic(path, f.data, f.len);
    ff_buf_free(&f);
    return rc == FF_IO_UNSYNCED ? 0 : rc; /* renamed, directory not synced: a later sync covers it */
}

static int read_keys(const char *path, struct ff_dedup *d, int64_t now_us, uint64_t *count, char *err, size_t errlen)
{
    *count = 0;
    struct ff_buf f;
    ff_buf_init(&f, (size_t)1 << 40);
    int rc = ff_io_read_file(path, &f);
    if (rc) {
        snprintf(err, errlen, "%s: cannot read: %s", path, ff_strerror(rc));
        ff_buf_free(&f);
        return rc;
    }
    struct ff_reader r = {(const unsigned char *)f.data, f.len, 0};
    uint32_t version = 0, reserved = 0;
    uint64_t n = 0, sum = 0;
    if (f.len < HDR + 8 || memcmp(f.data, magic, sizeof magic)) {
        snprintf(err, errlen, "%s: not a footfall dedup keys file", path);
        rc = FF_ECORRUPT;
    } else {
        r.off = sizeof magic;
        (void)(ff_rd_u32(&r, &version) || ff_rd_u32(&r, &reserved) || ff_rd_u64(&r, &n));
        r.off = f.len - 8;
        (void)ff_rd_u64(&r, &sum);
        if (version != 1) {
            snprintf(err, errlen, "%s: version %u, this footfall reads version 1", path, version);
            rc = FF_ECORRUPT;
        } else if (n != (f.len - HDR - 8) / FF_DEDUP_FILE_ENTRY || (f.len - HDR - 8) % FF_DEDUP_FILE_ENTRY) {
            snprintf(err, errlen, "%s: %zu bytes do not hold the %llu entries its header says", path, f.len,
                     (unsigned long long)n);
            rc = FF_ECORRUPT;
        } else if (sum != XXH3_64bits(f.data, f.len - 8)) {
            snprintf(err, errlen, "%s: checksum mismatch (file damaged)", path);
            rc = FF_ECORRUPT;
        }
    }
    if (!rc) *count = n;
    r.off = HDR;
    for (uint64_t i = 0; i < n && !rc && d; i++) {
        uint64_t key = 0;
        int64_t received = 0;
        (void)(ff_rd_u64(&r, &key) || ff_rd_i64(&r, &received));
        if (key && received + d->window_us > now_us && (rc = ff_dedup_insert(d, key, received, now_us)))
            snprintf(err, errlen, "%s: %s", path, ff_strerror(rc));
    }
    ff_buf_free(&f);
    return rc;
}

int ff_dedup_file_load(const char *path, struct ff_dedup *d, int64_t now_us, uint64_t *count, char *err,
                       size_t errlen)
{
    return read_keys(path, d, now_us, count, err, errlen);
}

int ff_dedup_file_check(const char *path, uint64_t *count, char *err, size_t errlen)
{
    return read_keys(path, NULL, 0, count, err, errlen);
}

int ff_dedup_file_path(const char *wal_path, char *out, size_t cap)
{
    size_t l = strlen(wal_path);
    if (l < 4 || strcmp(wal_path + l - 4, ".wal")) return FF_EINVAL;
    if (snprintf(out, cap, "%.*s.dedup", (int)(l - 4), wal_path) >= (int)cap) return -ENAMETOOLONG;
    return 0;
}
