/* Fuzzes identity-map reading with the input as DATA/IDENTITY (bytes from a disk are
 * untrusted): a load either fails cleanly or gives a map that resolves, lists and forgets
 * without reading out of bounds or looping (links may form cycles in a forged file). */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/identity.h"
#include "fuzz_file.h"

static int visit(void *arg, struct ff_str id)
{
    (void)id;
    ++*(size_t *)arg;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64], path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/footfall-fuzz-identity-%d", (int)getpid());
        mkdir(dir, 0700);
        snprintf(path, sizeof path, "%s/IDENTITY", dir);
    }
    if (fuzz_write_file(path, data, size)) return 0;
    struct ff_identity *id;
    char err[512];
    if (ff_identity_open(dir, &id, err, sizeof err)) return 0;
    size_t seen = 0;
    struct ff_buf out;
    ff_buf_init(&out, 1 << 20);
    ff_identity_person(id, (struct ff_str){"p", 1}, (struct ff_str){"", 0}, (struct ff_str){"a", 1}, &out);
    ff_identity_ids_of(id, NULL, (struct ff_str){"a", 1}, visit, &seen);
    ff_buf_free(&out);
    ff_identity_forget(id, "p", (struct ff_str){"a", 1});
    ff_identity_free(id);
    return 0;
}
