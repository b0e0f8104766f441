/* dedup_file.c - keys files of finished WAL segments (format in dedup_file.h). */
#include "store/dedup_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/binread.h"
#include "core/errors.h"
#include "core/fileio.h"

#define HDR 24
static const char magic[8] = {'F', 'F', 'D', 'E', 'D', 'U', 'P', 0};

int ff_dedup_keybuf_grow(struct ff_dedup_keybuf *kb)
{
    struct ff_dedup_received **p = ff_realloc(kb->chunks, (kb->nchunks + 1) * sizeof *p);
    if (!p) return -ENOMEM;
    kb->chunks = p;
    if (!(p[kb->nchunks] = ff_malloc(FF_DEDUP_KEYS_PER_CHUNK * sizeof **p))) return -ENOMEM;
    kb->nchunks++;
    return 0;
}

void ff_dedup_keybuf_reset(struct ff_dedup_keybuf *kb) { kb->n = 0; }

void ff_dedup_keybuf_free(struct ff_dedup_keybuf *kb)
{
    for (size_t i = 0; i < kb->nchunks; i++) ff_free(kb->chunks[i]);
    ff_free(kb->chunks);
    memset(kb, 0, sizeof *kb);
}

int ff_dedup_file_write(const char *path, const struct ff_dedup_keybuf *kb, struct ff_io_scratch *scratch)
{
    /* header, chunks and checksum written from where they are: a copy of a segment's keys
     * into one buffer was tens of MB of fresh memory */
    size_t nfull = kb->n / FF_DEDUP_KEYS_PER_CHUNK, rest = kb->n % FF_DEDUP_KEYS_PER_CHUNK;
    size_t nchunks = nfull + (rest > 0);
    struct ff_io_piece *pieces = ff_malloc((nchunks + 2) * sizeof *pieces);
    if (!pieces) return -ENOMEM;
    unsigned char hdr[HDR], sum[8];
    uint32_t version = 2, reserved = 0;
    uint64_t count = kb->n, digest;
    memcpy(hdr, magic, sizeof magic); /* little-endian, as the check below the function says */
    memcpy(hdr + 8, &version, 4);
    memcpy(hdr + 12, &reserved, 4);
    memcpy(hdr + 16, &count, 8);
    XXH3_state_t *st = XXH3_createState();
    int rc = st ? 0 : -ENOMEM;
    if (!rc) { /* streamed: the same value as XXH3_64bits over header and entries together */
        XXH3_64bits_reset(st);
        XXH3_64bits_update(st, hdr, HDR);
        pieces[0] = (struct ff_io_piece){hdr, HDR};
        for (size_t i = 0; i < nchunks; i++) {
            size_t len = (i < nfull ? FF_DEDUP_KEYS_PER_CHUNK : rest) * FF_DEDUP_FILE_ENTRY;
            XXH3_64bits_update(st, kb->chunks[i], len);
            pieces[1 + i] = (struct ff_io_piece){kb->chunks[i], len};
        }
        digest = XXH3_64bits_digest(st);
        memcpy(sum, &digest, 8);
        pieces[1 + nchunks] = (struct ff_io_piece){sum, sizeof sum};
        rc = ff_io_write_file_atomic_direct(path, pieces, nchunks + 2, scratch);
    }
    XXH3_freeState(st);
    ff_free(pieces);
    return rc == FF_IO_UNSYNCED ? 0 : rc; /* renamed, directory not synced: a later sync covers it */
}

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "keys files are read in place as little-endian (struct ff_dedup_received)"
#endif
_Static_assert(sizeof(struct ff_dedup_received) == FF_DEDUP_FILE_ENTRY, "an entry is 16 bytes on disk and in memory");

int ff_dedup_file_read(const char *path, struct ff_dedup_keys *k, char *err, size_t errlen)
{
    memset(k, 0, sizeof *k);
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) rc = -errno;
    /* mapped, not read: no copy of a file that holds a day of keys */
    if (!rc && st.st_size > 0) {
        k->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (k->map == MAP_FAILED) {
            k->map = NULL;
            rc = -errno;
        } else {
            k->map_len = (size_t)st.st_size;
        }
    }
    if (fd >= 0) close(fd);
    if (rc) {
        snprintf(err, errlen, "%s: cannot read: %s", path, ff_strerror(rc));
        return rc;
    }
    const char *data = k->map;
    size_t len = k->map_len;
    struct ff_reader r = {(const unsigned char *)data, len, 0};
    uint32_t version = 0, reserved = 0;
    uint64_t n = 0, sum = 0;
    if (len < HDR + 8 || memcmp(data, magic, sizeof magic)) {
        snprintf(err, errlen, "%s: not a footfall dedup keys file", path);
        rc = FF_ECORRUPT;
    } else {
        r.off = sizeof magic;
        (void)(ff_rd_u32(&r, &version) || ff_rd_u32(&r, &reserved) || ff_rd_u64(&r, &n));
        r.off = len - 8;
        (void)ff_rd_u64(&r, &sum);
        if (version != 1 && version != 2) {
            snprintf(err, errlen, "%s: version %u, this footfall reads versions 1 and 2", path, version);
            rc = FF_ECORRUPT;
        } else if (n != (len - HDR - 8) / FF_DEDUP_FILE_ENTRY || (len - HDR - 8) % FF_DEDUP_FILE_ENTRY) {
            snprintf(err, errlen, "%s: %zu bytes do not hold the %llu entries its header says", path, len,
                     (unsigned long long)n);
            rc = FF_ECORRUPT;
        } else if (sum != XXH3_64bits(data, len - 8)) {
            snprintf(err, errlen, "%s: checksum mismatch (file damaged)", path);
            rc = FF_ECORRUPT;
        }
    }
    if (rc) {
        ff_dedup_keys_free(k);
        return rc;
    }
    k->entries = (const struct ff_dedup_received *)(const void *)(data + HDR); /* 8-aligned: page + 24 */
    k->n = (size_t)n;
    k->checked = version >= 2;
    return 0;
}

void ff_dedup_keys_free(struct ff_dedup_keys *k)
{
    if (k->map) munmap(k->map, k->map_len);
    memset(k, 0, sizeof *k);
}

int ff_dedup_file_load(const char *path, struct ff_dedup *d, int64_t now_us, uint64_t *count, char *err,
                       size_t errlen)
{
    struct ff_dedup_keys k;
    *count = 0;
    int rc = ff_dedup_file_read(path, &k, err, errlen);
    if (rc) return rc;
    *count = k.n;
    if ((rc = ff_dedup_insert_many(d, k.entries, k.n, now_us, k.checked))) snprintf(err, errlen, "%s: %s", path, ff_strerror(rc));
    ff_dedup_keys_free(&k);
    return rc;
}

int ff_dedup_file_check(const char *path, uint64_t *count, char *err, size_t errlen)
{
    struct ff_dedup_keys k;
    *count = 0;
    int rc = ff_dedup_file_read(path, &k, err, errlen);
    if (!rc) *count = k.n;
    ff_dedup_keys_free(&k);
    return rc;
}

int ff_dedup_file_path(const char *wal_path, char *out, size_t cap)
{
    size_t l = strlen(wal_path);
    if (l < 4 || strcmp(wal_path + l - 4, ".wal")) return FF_EINVAL;
    if (snprintf(out, cap, "%.*s.dedup", (int)(l - 4), wal_path) >= (int)cap) return -ENAMETOOLONG;
    return 0;
}
