/* statefile.c - checksummed state files (see statefile.h). */
#include "core/statefile.h"

#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "core/errors.h"
#include "core/fileio.h"

int ff_statefile_begin(struct ff_buf *b, const char magic[8], uint64_t count)
{
    ff_buf_reset(b);
    int rc = ff_buf_append(b, magic, 8);
    return rc ? rc : ff_buf_put_u64(b, count);
}

int ff_statefile_commit(const char *path, struct ff_buf *b)
{
    int rc = ff_buf_put_u64(b, XXH3_64bits(b->data, b->len));
    return rc ? rc : ff_io_write_file_atomic(path, b->data, b->len);
}

int ff_statefile_load(const char *path, const char magic[8], struct ff_buf *b, struct ff_reader *r, uint64_t *count)
{
    int rc = ff_io_read_file(path, b);
    if (rc == -ENOENT) return 1;
    if (rc) return rc;
    uint64_t sum = 0;
    struct ff_reader t = {(const unsigned char *)b->data, b->len, b->len >= 8 ? b->len - 8 : 0};
    *r = (struct ff_reader){(const unsigned char *)b->data, b->len >= 8 ? b->len - 8 : 0, 8};
    if (b->len < 24 || memcmp(b->data, magic, 8) || ff_rd_u64(&t, &sum) || XXH3_64bits(b->data, b->len - 8) != sum ||
        ff_rd_u64(r, count))
        return FF_ECORRUPT;
    return 0;
}
