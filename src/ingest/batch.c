/* batch.c - the per-request accumulator of encoded records, dedup keys and failures. */
#include "ingest_int.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "store/dedup.h"
#include "enrich/enrich.h"
#include "project/projects.h"

void ff_batch_init(struct ff_batch *b, int format, size_t max_bytes)
{
    memset(b, 0, sizeof *b);
    ff_buf_init(&b->records, max_bytes * 2 + 4096);
    ff_buf_init(&b->failures, max_bytes * 8 + 4096);
    ff_buf_init(&b->scratch, max_bytes * 6 + 4096);
    ff_buf_init(&b->errtext, 4096);
    ff_buf_init(&b->pii, max_bytes * 6 + 4096);
    ff_buf_init(&b->pii_clean, max_bytes + 4096);
    ff_batch_reset(b, format);
}

void ff_batch_reset(struct ff_batch *b, int format)
{
    b->format = format;
    ff_buf_reset(&b->records);
    ff_buf_reset(&b->failures);
    ff_buf_reset(&b->scratch);
    ff_buf_reset(&b->errtext);
    b->nitems = b->accepted = b->failed = b->refused = b->not_tracked = 0;
    b->refused_status = 0;
    b->project = NULL;
    b->error = NULL;
    b->field = "";
    if (b->enriched) ff_enriched_forget(b->enriched);
    b->pii_clean_project = NULL; /* projects may be reloaded between requests */
}

void ff_batch_free(struct ff_batch *b)
{
    ff_buf_free(&b->records);
    ff_buf_free(&b->failures);
    ff_buf_free(&b->scratch);
    ff_buf_free(&b->errtext);
    ff_buf_free(&b->pii);
    ff_buf_free(&b->pii_clean);
    ff_free(b->items);
    b->items = NULL;
    b->cap_items = 0;
    ff_json_parser_free(b->merge_parser);
    b->merge_parser = NULL;
    if (b->enriched) ff_enriched_free(b->enriched);
    ff_free(b->enriched);
    b->enriched = NULL;
}

uint64_t ff_dedup_hash(struct ff_str project, struct ff_str message_id, unsigned *check)
{
    uint64_t seed = XXH3_64bits(project.p, project.len);
    uint64_t h = XXH3_64bits_withSeed(message_id.p, message_id.len, seed);
    if (check) { /* another seed: XXH3's outputs for different seeds are independent */
        uint64_t g = XXH3_64bits_withSeed(message_id.p, message_id.len, seed ^ UINT64_C(0x5bd1e9955bd1e995));
        unsigned c = (unsigned)(g >> 52) & FF_DEDUP_CHECK_MASK;
        *check = c ? c : 1;
    }
    return h ? h : 1;
}

static int add_item(struct ff_batch *b, size_t start, uint64_t hash, unsigned check)
{
    if (b->nitems == b->cap_items) {
        uint32_t cap = b->cap_items ? b->cap_items * 2 : 64;
        struct ff_batch_item *p = ff_realloc(b->items, (size_t)cap * sizeof *p);
        if (!p) return -ENOMEM;
        b->items = p;
        b->cap_items = cap;
    }
    b->items[b->nitems++] = (struct ff_batch_item){(uint32_t)start, (uint32_t)(b->records.len - start), hash, check};
    return 0;
}

int batch_add_event(struct ff_batch *b, const struct ff_event *ev)
{
    unsigned check;
    uint64_t hash = ff_dedup_hash(ev->project, ev->message_id, &check);
    size_t start = b->records.len;
    int rc = ff_event_encode(&b->records, ev);
    if (!rc) rc = add_item(b, start, hash, check);
    if (rc) {
        b->records.len = start;
        return rc;
    }
    b->accepted++;
    return 0;
}

int resolve_project(const struct ff_ingest_ctx *ctx, struct ff_str key, const struct ff_project **out,
                    struct failure *f)
{
    *out = NULL;
    if (!ctx->projects) return 0;
    const struct ff_project *pr = ff_projects_by_write_key(ctx->projects, key.p, key.len, ctx->received_at_us);
    if (!pr) {
        f->error = key.len ? "unknown write key: it opens no project (see `footfall project list`)"
                           : "missing write key: send it as the user of HTTP Basic auth, as \"writeKey\" in the "
                             "body, or as k= on the pixel";
        f->field = "writeKey";
        f->refused = 401;
        return FF_EINVAL;
    }
    if (ctx->origin.len && !ff_project_origin_allowed(pr, ctx->origin.p, ctx->origin.len)) {
        f->error = "this origin may not send events to the project (its cors-origins setting)";
        f->field = "Origin";
        f->refused = 403;
        return FF_EINVAL;
    }
    *out = pr;
    return 0;
}

/* Lists the failure in the answer: {"<index_name>": i, "error": …, "field": …}. */
static void list_failure(struct ff_batch *b, int32_t index, const char *index_name, struct ff_str reason,
                         struct ff_str field)
{
    if (index < 0) return;
    if (b->failures.len) ff_buf_putc(&b->failures, ',');
    ff_buf_printf(&b->failures, "{\"%s\":%d,\"error\":", index_name, (int)index);
    ff_json_write_str(&b->failures, reason.p, reason.len);
    ff_buf_append_str(&b->failures, ",\"field\":");
    ff_json_write_str(&b->failures, field.p, field.len);
    ff_buf_putc(&b->failures, '}');
}

int batch_add_failure(struct ff_batch *b, const struct ff_ingest_ctx *ctx, int32_t index,
                      const char *index_name, struct failure f, const char *raw, size_t raw_len)
{
    if (!f.project && !f.refused) f.project = ctx->project;
    if (ctx->projects && !f.project && !f.refused) {
        /* Input whose request key opens no project is not kept: it is nobody's to read. The
         * request's key says why (missing, unknown, or its origin). */
        struct failure r;
        resolve_project(ctx, ctx->write_key, &f.project, &r);
        if (!f.project) {
            f.error = r.error;
            f.field = r.field;
            f.refused = r.refused;
        }
    }
    if (!b->error) {
        b->error = f.error;
        b->field = f.field ? f.field : "";
    }
    if (f.refused) {
        if (!b->refused_status) b->refused_status = f.refused;
        b->refused++;
        list_failure(b, index, index_name, (struct ff_str){f.error, (uint32_t)strlen(f.error)},
                     (struct ff_str){f.field, (uint32_t)strlen(f.field)});
        return 0;
    }
    struct ff_quarantined q = {
        .project = {f.project ? f.project->id : "", (uint32_t)(f.project ? strlen(f.project->id) : 0)},
        .format = (uint8_t)b->format,
        .received_at_us = ctx->received_at_us,
        .index = index,
        .reason = {f.error, (uint32_t)strlen(f.error)},
        .field = {f.field ? f.field : "", (uint32_t)strlen(f.field ? f.field : "")},
        .raw = {raw, (uint32_t)raw_len},
    };
    const struct ff_str error = q.reason;
    struct ff_buf why; /* "SOURCE:INDEX: error" when the context names a log */
    ff_buf_init(&why, ctx->source.len + error.len + 32);
    int rc = 0;
    if (ctx->source.len) {
        rc = ff_buf_append(&why, ctx->source.p, ctx->source.len);
        if (!rc) rc = ff_buf_printf(&why, ":%d: ", (int)index);
        if (!rc) rc = ff_buf_append(&why, error.p, error.len);
        q.reason = (struct ff_str){why.data, (uint32_t)why.len};
    }
    size_t start = b->records.len;
    if (!rc) rc = ff_quarantine_encode(&b->records, &q);
    if (!rc) rc = add_item(b, start, 0, 0);
    ff_buf_free(&why);
    if (rc) {
        b->records.len = start;
        return rc;
    }
    b->failed++;
    list_failure(b, index, index_name, error, q.field);
    return 0;
}

/* A per-thread xorshift generator seeded from the kernel: message ids must be unique, not
 * secret, and getrandom per event would cost a syscall each. */
void make_message_id(char id[37])
{
    static _Thread_local uint64_t s[2];
    if (!s[0] && !s[1]) {
        if (getrandom(s, sizeof s, 0) != sizeof s) s[0] = (uint64_t)(uintptr_t)&s ^ 0x9e3779b97f4a7c15u;
        s[1] |= 1;
    }
    unsigned char r[16];
    for (int k = 0; k < 2; k++) {
        uint64_t x = s[0], y = s[1];
        s[0] = y;
        x ^= x << 23;
        s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
        uint64_t v = s[1] + y;
        memcpy(r + 8 * k, &v, 8);
    }
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    static const char hex[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) id[o++] = '-';
        id[o++] = hex[r[i] >> 4];
        id[o++] = hex[r[i] & 15];
    }
    id[o] = '\0';
}

int ff_ingest_reject(const struct ff_ingest_ctx *ctx, struct ff_batch *b, const char *reason, const char *field,
                     const char *raw, size_t len)
{
    return batch_add_failure(b, ctx, -1, "index", (struct failure){.error = reason, .field = field}, raw, len);
}

const char *parse_error_text(struct ff_batch *b, const char *what, const char *parser_msg)
{
    ff_buf_reset(&b->errtext);
    if (ff_buf_printf(&b->errtext, "%s is not valid JSON: %s", what, parser_msg ? parser_msg : "parse error") == 0)
        return b->errtext.data;
    return "not valid JSON";
}
