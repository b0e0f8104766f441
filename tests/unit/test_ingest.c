/* test_ingest.c - the wire-format decoders (ingest/ingest.h) with a real JSON parser: every
 * produced record is decoded back with ff_record_decode and checked field by field. */
#include <zlib.h>

#include "testutil.h"

#include "store/dedup.h"

#include <errno.h>

#include "core/alloc.h"

#include "core/buf.h"
#include "core/errors.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "ingest/ingest.h"

#define RECEIVED 1700000000123456LL

struct fx {
    struct ff_json_parser *parser;
    struct ff_ingest_ctx ctx;
    struct ff_batch b;
    char *body; /* padded copy of the last input */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->parser = ff_json_parser_new();
    if (!f->parser) return -1;
    f->ctx.received_at_us = RECEIVED;
    f->ctx.write_key = (struct ff_str){"", 0};
    f->ctx.parser = f->parser;
    ff_batch_init(&f->b, FF_FMT_SEGMENT, 1 << 20);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ff_batch_free(&f->b);
    ff_json_parser_free(f->parser);
    free(f->body);
    free(f);
    return 0;
}

/* Copies `s` with padding (JSON inputs need FF_JSON_PADDING readable bytes after them). */
static const char *pad(struct fx *f, const char *s, size_t n)
{
    free(f->body);
    f->body = test_padded(s, n);
    return f->body;
}

/* Runs the decoder of `fmt` (seed, Segment with URL type `type`, or import) on a padded copy
 * of in[0..n), into the fixture's batch reset for it; returns the decoder's result. */
static int ingest(struct fx *f, int fmt, int type, const char *in, size_t n)
{
    ff_batch_reset(&f->b, fmt);
    const char *body = pad(f, in, n);
    switch (fmt) {
    case FF_FMT_SEED: return ff_ingest_seed(&f->ctx, body, n, &f->b);
    case FF_FMT_SEGMENT: return ff_ingest_segment(&f->ctx, type, body, n, &f->b);
    case FF_FMT_IMPORT: return ff_ingest_import(&f->ctx, body, n, &f->b);
    }
    fail_msg("no decoder for format %d", fmt);
    return -1;
}

/* ---- reading a batch back ---- */

#define MAXREC 256
struct got {
    struct ff_record r[MAXREC];
    size_t n, events, quarantined;
};

/* The check ff_dedup_hash gives beside the hash. */
static unsigned check_of(struct ff_str project, struct ff_str message_id)
{
    unsigned c = 0;
    (void)ff_dedup_hash(project, message_id, &c);
    return c;
}

static void collect(const struct ff_batch *b, struct got *g)
{
    memset(g, 0, sizeof *g);
    assert_int_equal(b->nitems, b->accepted + b->failed);
    assert_true(b->nitems <= MAXREC);
    size_t pos = 0;
    for (uint32_t i = 0; i < b->nitems; i++) {
        const struct ff_batch_item *it = &b->items[i];
        assert_int_equal(it->off, pos); /* back to back */
        size_t off = it->off;
        struct ff_record *r = &g->r[g->n++];
        assert_int_equal(ff_record_decode(b->records.data, b->records.len, &off, r), 0);
        assert_int_equal(off, (size_t)it->off + it->len);
        pos = off;
        if (r->kind == FF_REC_EVENT) {
            g->events++;
            assert_true(it->dedup_hash == ff_dedup_hash(r->u.ev.project, r->u.ev.message_id, NULL));
            assert_true(it->dedup_hash != 0);
            assert_int_equal(it->dedup_check, check_of(r->u.ev.project, r->u.ev.message_id));
        } else {
            assert_int_equal(r->kind, FF_REC_QUARANTINE);
            g->quarantined++;
            assert_true(it->dedup_hash == 0);
        }
    }
    assert_int_equal(pos, b->records.len);
    assert_int_equal(g->events, b->accepted);
    assert_int_equal(g->quarantined, b->failed);
}

static int str_is(struct ff_str s, const char *want) { return s.len == strlen(want) && !memcmp(s.p, want, s.len); }

static void assert_str(struct ff_str s, const char *want)
{
    if (!str_is(s, want)) print_error("got \"%.*s\", want \"%s\"\n", (int)s.len, s.p, want);
    assert_true(str_is(s, want));
}

/* Object JSON text equal to `want` (structurally); an empty object is stored as "". */
static void assert_json(struct ff_str got, const char *want)
{
    if (!strcmp(want, "") || !strcmp(want, "{}")) {
        if (got.len) print_error("want an empty object, got %.*s\n", (int)got.len, got.p);
        assert_int_equal(got.len, 0);
        return;
    }
    test_assert_json_text(got.p, got.len, want);
}

static int is_uuid4(struct ff_str s)
{
    if (s.len != 36) return 0;
    for (int i = 0; i < 36; i++) {
        char c = s.p[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return s.p[14] == '4' && strchr("89ab", s.p[19]) != NULL;
}

static void assert_quarantine(const struct ff_record *r, int format, int32_t index, const char *field,
                              const char *raw, size_t raw_len)
{
    assert_int_equal(r->kind, FF_REC_QUARANTINE);
    const struct ff_quarantined *q = &r->u.q;
    assert_int_equal(q->format, format);
    assert_int_equal(q->index, index);
    assert_true(q->received_at_us == RECEIVED);
    assert_true(q->reason.len > 0);
    if (field) assert_str(q->field, field);
    if (raw) {
        assert_int_equal(q->raw.len, raw_len);
        assert_memory_equal(q->raw.p, raw, raw_len);
    }
}

/* ingest() of `in` that must succeed; the batch's records are read back into g. */
static void ingest_ok(struct fx *f, int fmt, int type, const char *in, struct got *g)
{
    assert_int_equal(ingest(f, fmt, type, in, strlen(in)), 0);
    collect(&f->b, g);
}

/* ingest() of a request refused as a whole: 0 or FF_EINVAL (ingest.h says FF_EINVAL for a
 * request not understood at all; routes.c treats any non-zero other than FF_ETOOBIG as out
 * of memory and answers from b->failed, so either will do), and one record, read into g. */
static void ingest_refused(struct fx *f, int fmt, int type, const char *in, struct got *g)
{
    int rc = ingest(f, fmt, type, in, strlen(in));
    assert_true(rc == 0 || rc == FF_EINVAL);
    collect(&f->b, g);
    assert_int_equal(g->n, 1);
}

/* The record of a request refused as a whole (g->r[0]): quarantined at index -1 with the
 * whole body `in` as its raw text and the batch's error as its reason; `field` (NULL: not
 * checked) is its field and the batch's. */
static void assert_refused_record(const struct fx *f, const struct got *g, int fmt, const char *field,
                                  const char *in)
{
    assert_quarantine(&g->r[0], fmt, -1, field, in, strlen(in));
    assert_non_null(f->b.error);
    assert_true(str_is(g->r[0].u.q.reason, f->b.error));
    if (field) assert_string_equal(f->b.field, field);
}

/* Parses the batch's failures list (JSON array elements) as an array into tp; the caller
 * frees it with test_parsed_free. */
static void parse_failures(const struct fx *f, struct test_parsed *tp)
{
    struct ff_buf arr;
    ff_buf_init(&arr, 1 << 20);
    ff_buf_putc(&arr, '[');
    ff_buf_append(&arr, f->b.failures.data, f->b.failures.len);
    ff_buf_putc(&arr, ']');
    int rc = test_parse(tp, arr.data, arr.len);
    if (rc) print_error("failures list is not JSON: %.*s\n", (int)arr.len, arr.data);
    ff_buf_free(&arr); /* tp has its own copy */
    assert_int_equal(rc, 0);
    assert_int_equal(tp->doc.nodes[0].type, FF_JSON_ARRAY);
}

/* A request body refused as a whole, and the field its refusal names. */
struct refusal {
    const char *body, *field;
};

/* Each body in turn, decoded as `fmt` (type 0): refused as a whole (ingest_refused,
 * assert_refused_record). A seed request is a single event: nothing accepted, one failure
 * and no per-item failures list. */
static void check_refusals(struct fx *f, int fmt, const struct refusal *cases, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        struct got g;
        ingest_refused(f, fmt, 0, cases[k].body, &g);
        assert_refused_record(f, &g, fmt, cases[k].field, cases[k].body);
        if (fmt == FF_FMT_SEED) {
            assert_int_equal(f->b.accepted, 0);
            assert_int_equal(f->b.failed, 1);
            assert_int_equal(f->b.failures.len, 0);
        }
    }
}

/* ---- seed ---- */

static void test_seed(void **state)
{
    struct fx *f = *state;
    f->ctx.write_key = (struct ff_str){"wk1", 3};
    const char *in = "{\"event\":\"click\",\"data\":{\"x\":1}}";
    struct got g;
    ingest_ok(f, FF_FMT_SEED, 0, in, &g);
    assert_int_equal(f->b.accepted, 1);
    assert_int_equal(f->b.failed, 0);
    assert_null(f->b.error);
    assert_int_equal(g.n, 1);
    const struct ff_event *ev = &g.r[0].u.ev;
    assert_int_equal(g.r[0].kind, FF_REC_EVENT);
    assert_int_equal(ev->type, FF_EV_TRACK);
    assert_int_equal(ev->format, FF_FMT_SEED);
    assert_str(ev->event, "click");
    assert_json(ev->properties, "{\"x\":1}");
    assert_json(ev->traits, "");
    assert_json(ev->context, "");
    assert_true(is_uuid4(ev->message_id));
    assert_str(ev->write_key, "wk1");
    assert_int_equal(ev->user_id.len, 0);
    assert_int_equal(ev->anonymous_id.len, 0);
    assert_true(ev->received_at_us == RECEIVED);
    assert_true(ev->timestamp_us == RECEIVED); /* no client time: when it was received */
    assert_true(ev->original_timestamp_us == FF_TIME_NONE);
    assert_true(ev->sent_at_us == FF_TIME_NONE);
    char first_id[37];
    memcpy(first_id, ev->message_id.p, 36);

    /* A second request gets another id. */
    ingest_ok(f, FF_FMT_SEED, 0, in, &g);
    assert_int_equal(g.n, 1);
    assert_true(is_uuid4(g.r[0].u.ev.message_id));
    assert_memory_not_equal(g.r[0].u.ev.message_id.p, first_id, 36);

    /* Properties may come as "properties" too; a given messageId is kept. */
    in = "{\"event\":\"buy\",\"properties\":{\"p\":[1,2]},\"messageId\":\"abc\",\"userId\":\"u9\"}";
    ingest_ok(f, FF_FMT_SEED, 0, in, &g);
    assert_int_equal(g.events, 1);
    assert_json(g.r[0].u.ev.properties, "{\"p\":[1,2]}");
    assert_str(g.r[0].u.ev.message_id, "abc");
    assert_str(g.r[0].u.ev.user_id, "u9");
}

static void test_seed_failures(void **state)
{
    struct fx *f = *state;
    static const struct refusal cases[] = {
        {"{\"data\":{\"x\":1}}", "event"},
        {"{\"event\":\"\"}", "event"},
        {"{\"event\":7}", "event"},
        {"{\"event\":\"e\",\"data\":[1]}", "data"},
        {"{\"event\":\"e\",\"data\":\"s\"}", "data"},
        {"{\"event\":\"e\",\"timestamp\":\"yesterday\"}", "timestamp"},
        {"{\"event\":\"e\",\"userId\":{}}", "userId"},
        {"[1,2]", ""},
        {"{\"event\":", ""},
        {"", ""},
    };
    check_refusals(f, FF_FMT_SEED, cases, sizeof cases / sizeof *cases);
}

/* ---- Segment single events ---- */

struct seg_case {
    int type;
    const char *body;
    const char *fail_field; /* NULL: accepted */
};

static void test_segment_validation(void **state)
{
    struct fx *f = *state;
    static const struct seg_case cases[] = {
        {FF_EV_TRACK, "{\"userId\":\"u\",\"event\":\"e\"}", NULL},
        {FF_EV_TRACK, "{\"anonymousId\":\"a\",\"event\":\"e\"}", NULL},
        {FF_EV_TRACK, "{\"userId\":\"u\"}", "event"},
        {FF_EV_TRACK, "{\"userId\":\"u\",\"event\":\"\"}", "event"},
        {FF_EV_TRACK, "{\"userId\":\"u\",\"event\":null}", "event"},
        {FF_EV_TRACK, "{\"event\":\"e\"}", "userId"},
        {FF_EV_TRACK, "{\"event\":\"e\",\"userId\":\"\",\"anonymousId\":\"\"}", "userId"},
        {FF_EV_TRACK, "{\"event\":\"e\",\"userId\":1.5}", "userId"},
        {FF_EV_TRACK, "{\"event\":\"e\",\"userId\":true}", "userId"},
        {FF_EV_TRACK, "{\"event\":\"e\",\"anonymousId\":[]}", "anonymousId"},
        {FF_EV_TRACK, "{\"event\":\"e\",\"userId\":\"u\",\"properties\":[]}", "properties"},
        {FF_EV_TRACK, "{\"event\":\"e\",\"userId\":\"u\",\"context\":\"c\"}", "context"},
        {FF_EV_TRACK, "{\"event\":\"e\",\"userId\":\"u\",\"messageId\":{}}", "messageId"},
        {FF_EV_TRACK, "{\"event\":\"e\",\"userId\":\"u\",\"timestamp\":\"2015-13-01\"}", "timestamp"},
        {FF_EV_TRACK, "{\"event\":\"e\",\"userId\":\"u\",\"sentAt\":true}", "sentAt"},
        {FF_EV_PAGE, "{\"userId\":\"u\",\"name\":\"Home\"}", NULL},
        {FF_EV_PAGE, "{\"userId\":\"u\"}", NULL},
        {FF_EV_PAGE, "{\"name\":\"Home\"}", "userId"},
        {FF_EV_PAGE, "{\"userId\":\"u\",\"name\":5}", "name"},
        {FF_EV_SCREEN, "{\"anonymousId\":\"a\",\"name\":\"Main\"}", NULL},
        {FF_EV_SCREEN, "{}", "userId"},
        {FF_EV_IDENTIFY, "{\"userId\":\"u\",\"traits\":{\"email\":\"x@y\"}}", NULL},
        {FF_EV_IDENTIFY, "{\"anonymousId\":\"a\"}", NULL},
        {FF_EV_IDENTIFY, "{\"traits\":{\"a\":1}}", "userId"},
        {FF_EV_IDENTIFY, "{\"userId\":\"u\",\"traits\":\"t\"}", "traits"},
        {FF_EV_GROUP, "{\"userId\":\"u\",\"groupId\":\"g\"}", NULL},
        {FF_EV_GROUP, "{\"userId\":\"u\",\"groupId\":77}", NULL},
        {FF_EV_GROUP, "{\"userId\":\"u\"}", "groupId"},
        {FF_EV_GROUP, "{\"userId\":\"u\",\"groupId\":\"\"}", "groupId"},
        {FF_EV_GROUP, "{\"groupId\":\"g\"}", "userId"},
        {FF_EV_ALIAS, "{\"userId\":\"u\",\"previousId\":\"p\"}", NULL},
        {FF_EV_ALIAS, "{\"previousId\":\"p\"}", "userId"},
        {FF_EV_ALIAS, "{\"anonymousId\":\"a\",\"previousId\":\"p\"}", "userId"},
        {FF_EV_ALIAS, "{\"userId\":\"u\"}", "previousId"},
        {FF_EV_ALIAS, "{\"userId\":\"u\",\"previousId\":\"\"}", "previousId"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const struct seg_case *c = &cases[k];
        struct got g;
        if (c->fail_field) ingest_refused(f, FF_FMT_SEGMENT, c->type, c->body, &g);
        else ingest_ok(f, FF_FMT_SEGMENT, c->type, c->body, &g);
        assert_int_equal(g.n, 1);
        if (!c->fail_field) {
            if (g.r[0].kind != FF_REC_EVENT)
                print_error("case %zu (%s) rejected: %.*s\n", k, c->body, (int)g.r[0].u.q.reason.len,
                            g.r[0].u.q.reason.p);
            assert_int_equal(g.r[0].kind, FF_REC_EVENT);
            assert_int_equal(g.r[0].u.ev.type, c->type);
            assert_int_equal(g.r[0].u.ev.format, FF_FMT_SEGMENT);
            assert_true(g.r[0].u.ev.message_id.len > 0);
            assert_null(f->b.error);
        } else {
            if (g.r[0].kind != FF_REC_QUARANTINE) print_error("case %zu (%s) accepted\n", k, c->body);
            assert_int_equal(g.r[0].kind, FF_REC_QUARANTINE);
            if (!str_is(g.r[0].u.q.field, c->fail_field))
                print_error("case %zu (%s): field \"%.*s\", want \"%s\"\n", k, c->body, (int)g.r[0].u.q.field.len,
                            g.r[0].u.q.field.p, c->fail_field);
            assert_refused_record(f, &g, FF_FMT_SEGMENT, c->fail_field, c->body);
        }
    }
}

static void test_segment_fields(void **state)
{
    struct fx *f = *state;
    const char *in = "{\"type\":\"page\",\"userId\":42,\"anonymousId\":\"an\",\"event\":\"ignored\",\"name\":\"Docs\","
                     "\"messageId\":\"mid-1\",\"properties\":{\"path\":\"/d\",\"n\":[1,{\"a\":null}]},"
                     "\"traits\":{},\"context\":{\"ip\":\"1.2.3.4\"},\"writeKey\":\"bodykey\"}";
    f->ctx.write_key = (struct ff_str){"authkey", 7};
    /* /v1/track: the URL's type wins over the body's "type". */
    struct got g;
    ingest_ok(f, FF_FMT_SEGMENT, FF_EV_TRACK, in, &g);
    assert_int_equal(g.events, 1);
    const struct ff_event *ev = &g.r[0].u.ev;
    assert_int_equal(ev->type, FF_EV_TRACK);
    assert_str(ev->event, "ignored");
    assert_str(ev->user_id, "42"); /* numeric ids are stringified */
    assert_str(ev->anonymous_id, "an");
    assert_str(ev->message_id, "mid-1");
    assert_str(ev->write_key, "bodykey"); /* the body's write key over Basic auth */
    assert_json(ev->properties, "{\"path\":\"/d\",\"n\":[1,{\"a\":null}]}");
    assert_json(ev->traits, "");
    assert_json(ev->context, "{\"ip\":\"1.2.3.4\"}");

    /* /v1/page: the name is kept; track's "event" is not required. */
    ingest_ok(f, FF_FMT_SEGMENT, FF_EV_PAGE, in, &g);
    assert_int_equal(g.r[0].u.ev.type, FF_EV_PAGE);
    assert_str(g.r[0].u.ev.name, "Docs");

    /* Without a body writeKey, Basic auth's. */
    const char *in2 = "{\"userId\":\"u\",\"event\":\"e\",\"messageId\":\"m\"}";
    ingest_ok(f, FF_FMT_SEGMENT, FF_EV_TRACK, in2, &g);
    assert_str(g.r[0].u.ev.write_key, "authkey");
    f->ctx.write_key = (struct ff_str){"", 0};
}

static void test_segment_invalid_body(void **state)
{
    struct fx *f = *state;
    static const char *const bodies[] = {"{\"userId\":", "not json", "\"str\"", "[{\"userId\":\"u\"}]", "42", ""};
    for (size_t k = 0; k < sizeof bodies / sizeof *bodies; k++) {
        for (int type = 0; type <= FF_EV_TYPE_MAX; type++) {
            struct got g;
            ingest_refused(f, FF_FMT_SEGMENT, type, bodies[k], &g);
            assert_refused_record(f, &g, FF_FMT_SEGMENT, NULL, bodies[k]);
        }
    }
}

/* ---- Segment batch ---- */

static void test_batch_mixed(void **state)
{
    struct fx *f = *state;
    const char *in =
        "{\"batch\":["
        "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"A\",\"messageId\":\"m0\"},"            /* 0 ok */
        "{\"type\":\"track\",\"userId\":\"u1\",\"properties\":{\"q\":\"\\u00e9\\n\"}},"             /* 1 event */
        "{\"type\":\"identify\",\"userId\":\"u2\",\"traits\":{\"age\":26},\"messageId\":\"m2\"}," /* 2 ok */
        "\"not an object\","                                                                     /* 3 */
        "{\"type\":\"bogus\",\"userId\":\"u\"},"                                                 /* 4 type */
        "{\"type\":\"alias\",\"userId\":\"u3\",\"previousId\":\"p3\",\"messageId\":\"m5\"},"       /* 5 ok */
        "{\"type\":\"group\",\"userId\":\"u\"},"                                                 /* 6 groupId */
        "{\"userId\":\"u4\",\"event\":\"NoType\",\"messageId\":\"m7\"},"                          /* 7 type */
        "{\"type\":\"track\",\"userId\":\"u4\",\"event\":\"Last\",\"messageId\":\"m8\"}"       /* 8 ok */
        "]}";
    struct got g;
    ingest_ok(f, FF_FMT_SEGMENT, 0, in, &g);
    assert_int_equal(f->b.accepted, 4);
    assert_int_equal(f->b.failed, 5);
    assert_int_equal(g.n, 9);
    /* Records in item order. */
    static const int kinds[] = {FF_REC_EVENT,      FF_REC_QUARANTINE, FF_REC_EVENT,
                                FF_REC_QUARANTINE, FF_REC_QUARANTINE, FF_REC_EVENT,
                                FF_REC_QUARANTINE, FF_REC_QUARANTINE, FF_REC_EVENT};
    for (int k = 0; k < 9; k++) assert_int_equal(g.r[k].kind, kinds[k]);
    assert_str(g.r[0].u.ev.message_id, "m0");
    assert_int_equal(g.r[2].u.ev.type, FF_EV_IDENTIFY);
    assert_json(g.r[2].u.ev.traits, "{\"age\":26}");
    assert_int_equal(g.r[5].u.ev.type, FF_EV_ALIAS);
    assert_str(g.r[5].u.ev.previous_id, "p3");
    assert_int_equal(g.r[8].u.ev.type, FF_EV_TRACK);
    assert_str(g.r[8].u.ev.event, "Last");
    assert_quarantine(&g.r[1], FF_FMT_SEGMENT, 1, "event", NULL, 0);
    assert_quarantine(&g.r[3], FF_FMT_SEGMENT, 3, "", NULL, 0);
    assert_quarantine(&g.r[4], FF_FMT_SEGMENT, 4, "type", NULL, 0);
    assert_quarantine(&g.r[6], FF_FMT_SEGMENT, 6, "groupId", NULL, 0);
    /* A batch item must say its type (/v1/batch; import lines default to track). */
    assert_quarantine(&g.r[7], FF_FMT_SEGMENT, 7, "type", NULL, 0);
    /* The quarantined item's raw text is that item, as JSON. */
    assert_json(g.r[1].u.q.raw, "{\"type\":\"track\",\"userId\":\"u1\",\"properties\":{\"q\":\"\\u00e9\\n\"}}");
    {
        struct test_parsed a;
        assert_int_equal(test_parse(&a, g.r[3].u.q.raw.p, g.r[3].u.q.raw.len), 0);
        assert_true(test_json_str_is(&a.doc, 0, "not an object"));
        test_parsed_free(&a);
    }
    /* b->error/field: the first failure's. */
    assert_non_null(f->b.error);
    assert_string_equal(f->b.field, "event");
    assert_true(str_is(g.r[1].u.q.reason, f->b.error));

    /* The failures list for the response: JSON array elements. */
    struct test_parsed tp;
    parse_failures(f, &tp);
    const struct ff_json_doc *d = &tp.doc;
    assert_int_equal(d->nodes[0].len, 5);
    static const int idx[] = {1, 3, 4, 6, 7};
    static const char *const fields[] = {"event", "", "type", "groupId", "type"};
    uint32_t c = 1;
    for (int k = 0; k < 5; k++, c = d->nodes[c].end) {
        assert_int_equal(d->nodes[c].type, FF_JSON_OBJECT);
        uint32_t i = ff_json_get(d, c, "index");
        assert_int_not_equal(i, FF_JSON_NONE);
        assert_int_equal(d->nodes[i].v.i, idx[k]);
        assert_true(test_json_str_is(d, ff_json_get(d, c, "field"), fields[k]));
        const char *s;
        uint32_t len;
        assert_true(ff_json_str(d, ff_json_get(d, c, "error"), &s, &len));
        const struct ff_str reason = g.r[idx[k]].u.q.reason;
        assert_int_equal(len, reason.len);
        assert_memory_equal(s, reason.p, len);
    }
    test_parsed_free(&tp);
}

static void test_batch_request_failures(void **state)
{
    struct fx *f = *state;
    static const struct refusal cases[] = {
        {"{\"events\":[]}", "batch"},
        {"{\"batch\":{}}", "batch"},
        {"{\"batch\":\"x\"}", "batch"},
        {"{\"batch\":[],\"sentAt\":\"not a time\"}", "sentAt"},
        {"[]", ""},
        {"{\"batch\":[", ""},
    };
    check_refusals(f, FF_FMT_SEGMENT, cases, sizeof cases / sizeof *cases);
    /* An empty batch is fine and yields nothing. */
    struct got g;
    ingest_ok(f, FF_FMT_SEGMENT, 0, "{\"batch\":[]}", &g);
    assert_int_equal(f->b.nitems, 0);
    assert_null(f->b.error);
}

static int64_t iso(const char *s)
{
    int64_t us;
    assert_int_equal(ff_time_parse_iso(s, strlen(s), &us), 0);
    return us;
}

static void test_clock_skew(void **state)
{
    struct fx *f = *state;
    const char *in =
        "{\"sentAt\":\"2023-01-01T00:00:10.000Z\",\"batch\":["
        /* 0: timestamp 7 s before the batch's sentAt */
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"a\",\"timestamp\":\"2023-01-01T00:00:03.250Z\"},"
        /* 1: its own sentAt wins over the batch's */
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"b\",\"timestamp\":\"2023-01-01T00:00:03Z\",\"sentAt\":\"2023-01-01T00:00:04Z\"},"
        /* 2: no timestamp: received time */
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"c\"},"
        /* 3: originalTimestamp when timestamp is absent; offsets honoured */
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"d\",\"originalTimestamp\":\"2023-01-01T08:00:05+08:00\"},"
        /* 4: epoch milliseconds */
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\",\"timestamp\":1672531208000}"
        "]}";
    struct got g;
    ingest_ok(f, FF_FMT_SEGMENT, 0, in, &g);
    assert_int_equal(g.events, 5);
    int64_t sent = iso("2023-01-01T00:00:10Z");
    const struct ff_event *e0 = &g.r[0].u.ev, *e1 = &g.r[1].u.ev, *e2 = &g.r[2].u.ev, *e3 = &g.r[3].u.ev,
                          *e4 = &g.r[4].u.ev;
    int64_t t0 = iso("2023-01-01T00:00:03.250Z");
    assert_true(e0->original_timestamp_us == t0);
    assert_true(e0->sent_at_us == sent);
    assert_true(e0->timestamp_us == RECEIVED - (sent - t0));
    assert_true(e0->timestamp_us == RECEIVED - 6750000);
    assert_true(e1->sent_at_us == iso("2023-01-01T00:00:04Z"));
    assert_true(e1->timestamp_us == RECEIVED - 1000000);
    assert_true(e2->timestamp_us == RECEIVED);
    assert_true(e2->original_timestamp_us == FF_TIME_NONE);
    assert_true(e2->sent_at_us == sent);
    assert_true(e3->original_timestamp_us == iso("2023-01-01T00:00:05Z"));
    assert_true(e3->timestamp_us == RECEIVED - 5000000);
    assert_true(e4->original_timestamp_us == 1672531208000LL * 1000);
    assert_true(e4->timestamp_us == RECEIVED - 2000000);

    /* Single event, timestamp without any sentAt: taken as is. */
    const char *one = "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",\"timestamp\":\"2015-02-23T22:28:55.111Z\"}";
    ingest_ok(f, FF_FMT_SEGMENT, FF_EV_TRACK, one, &g);
    assert_true(g.r[0].u.ev.timestamp_us == iso("2015-02-23T22:28:55.111Z"));
    assert_true(g.r[0].u.ev.sent_at_us == FF_TIME_NONE);
}

static void test_batch_context_merge(void **state)
{
    struct fx *f = *state;
    const char *in = "{\"context\":{\"ip\":\"1.2.3.4\",\"library\":{\"name\":\"lib\"},\"locale\":\"en\"},\"batch\":["
                     "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"a\"},"
                     "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"b\",\"context\":{\"ip\":\"9.9.9.9\",\"page\":{\"path\":\"/\"}}},"
                     "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"c\",\"context\":{}},"
                     "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"d\",\"context\":null}"
                     "]}";
    struct got g;
    ingest_ok(f, FF_FMT_SEGMENT, 0, in, &g);
    assert_int_equal(g.events, 4);
    const char *batch_ctx = "{\"ip\":\"1.2.3.4\",\"library\":{\"name\":\"lib\"},\"locale\":\"en\"}";
    assert_json(g.r[0].u.ev.context, batch_ctx);
    /* Item keys win; batch keys the item lacks are added; nothing twice. */
    struct test_parsed tp;
    assert_int_equal(test_parse(&tp, g.r[1].u.ev.context.p, g.r[1].u.ev.context.len), 0);
    const struct ff_json_doc *d = &tp.doc;
    assert_int_equal(d->nodes[0].len, 4);
    assert_true(test_json_str_is(d, ff_json_get(d, 0, "ip"), "9.9.9.9"));
    assert_true(test_json_str_is(d, ff_json_get(d, 0, "locale"), "en"));
    uint32_t lib = ff_json_get(d, 0, "library");
    assert_true(test_json_str_is(d, ff_json_get(d, lib, "name"), "lib"));
    uint32_t page = ff_json_get(d, 0, "page");
    assert_true(test_json_str_is(d, ff_json_get(d, page, "path"), "/"));
    test_parsed_free(&tp);
    assert_json(g.r[2].u.ev.context, batch_ctx);
    assert_json(g.r[3].u.ev.context, batch_ctx);
}

/* "Item keys win" must hold for any key. normalize.c's write_object copies a batch context
 * key into a 256-byte buffer to look it up in the item's context and, for keys of 256 bytes
 * or more (or with a NUL byte), skips the lookup and appends the batch's member anyway:
 * the merged context then has the key twice. Fails today. */
static void test_batch_context_merge_long_key(void **state)
{
    struct fx *f = *state;
    char key[301];
    memset(key, 'k', 300);
    key[300] = 0;
    static const char *const keys[] = {NULL, "nul\\u0000key"};
    for (int round = 0; round < 2; round++) {
        const char *k = round == 0 ? key : keys[1];
        char in[2048];
        snprintf(in, sizeof in,
                 "{\"context\":{\"%s\":\"batch\",\"other\":1},\"batch\":["
                 "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"a\",\"context\":{\"%s\":\"item\"}}]}",
                 k, k);
        struct got g;
        ingest_ok(f, FF_FMT_SEGMENT, 0, in, &g);
        assert_int_equal(g.events, 1);
        struct test_parsed tp;
        int rc = test_parse(&tp, g.r[0].u.ev.context.p, g.r[0].u.ev.context.len);
        uint32_t members = rc ? 0 : tp.doc.nodes[0].len;
        test_parsed_free(&tp); /* nothing left to leak when an assertion below fails */
        assert_int_equal(rc, 0);
        if (members != 2)
            print_error("merged context (key of %zu bytes) has %u members: %.*s\n", strlen(k), members,
                        (int)g.r[0].u.ev.context.len, g.r[0].u.ev.context.p);
        assert_int_equal(members, 2); /* the long key once, "other" once */
    }
}

static void test_write_key_precedence(void **state)
{
    struct fx *f = *state;
    const char *in = "{\"writeKey\":\"batchkey\",\"batch\":["
                     "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"a\",\"messageId\":\"m\"},"
                     "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"b\",\"messageId\":\"m\",\"writeKey\":\"itemkey\"}"
                     "]}";
    struct got g;
    /* No Basic auth: the batch's key, unless the item has one. */
    f->ctx.write_key = (struct ff_str){"", 0};
    ingest_ok(f, FF_FMT_SEGMENT, 0, in, &g);
    assert_str(g.r[0].u.ev.write_key, "batchkey");
    assert_str(g.r[1].u.ev.write_key, "itemkey");
    /* Same messageId, different write keys of one project: one dedup key (a retry is one
     * whichever of the project's keys sent it). */
    assert_true(f->b.items[0].dedup_hash == f->b.items[1].dedup_hash);
    /* With Basic auth: the request's key over the batch's (normalize.c's stated order),
     * the item's over both. */
    f->ctx.write_key = (struct ff_str){"authkey", 7};
    ingest_ok(f, FF_FMT_SEGMENT, 0, in, &g);
    assert_str(g.r[0].u.ev.write_key, "authkey");
    assert_str(g.r[1].u.ev.write_key, "itemkey");
    f->ctx.write_key = (struct ff_str){"", 0};
}

/* ---- pixel ---- */

static void b64_encode(const unsigned char *in, size_t n, char *out, int url_safe, int padding)
{
    const char *alpha = url_safe ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                                 : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        if (i + 1 < n) out[o++] = alpha[v >> 6 & 63];
        else if (padding) out[o++] = '=';
        if (i + 2 < n) out[o++] = alpha[v & 63];
        else if (padding) out[o++] = '=';
    }
    out[o] = 0;
}

static void pixel(struct fx *f, int type, const char *query, struct got *g)
{
    ff_batch_reset(&f->b, FF_FMT_PIXEL);
    /* The query string is not JSON: no padding needed, but copy it exactly so an over-read
     * shows under ASan. */
    size_t n = strlen(query);
    char *q = malloc(n ? n : 1);
    memcpy(q, query, n);
    int rc = ff_ingest_pixel(&f->ctx, type, q, n, &f->b);
    if (rc != 0 && rc != FF_EINVAL) print_error("pixel(%s): rc=%d (%s)\n", query, rc, ff_strerror(rc));
    assert_true(rc == 0 || rc == FF_EINVAL);
    collect(&f->b, g);
    free(q);
}

/* A pixel request refused: one quarantined record, for `field`. */
static void pixel_refused(struct fx *f, int type, const char *query, const char *field)
{
    struct got g;
    pixel(f, type, query, &g);
    assert_int_equal(g.quarantined, 1);
    assert_str(g.r[0].u.q.field, field);
}

static void test_pixel_short_params(void **state)
{
    struct fx *f = *state;
    struct got g;
    pixel(f, 0, "e=signup&uid=42&plan=pro%20plus&note=a+b&k=wk&my%20key=v%26w%3D&empty=", &g);
    assert_int_equal(g.events, 1);
    const struct ff_event *ev = &g.r[0].u.ev;
    assert_int_equal(ev->type, FF_EV_TRACK);
    assert_int_equal(ev->format, FF_FMT_PIXEL);
    assert_str(ev->event, "signup");
    assert_str(ev->user_id, "42");
    assert_str(ev->write_key, "wk");
    assert_true(is_uuid4(ev->message_id));
    assert_json(ev->properties, "{\"plan\":\"pro plus\",\"note\":\"a b\",\"my key\":\"v&w=\",\"empty\":\"\"}");
    assert_true(ev->timestamp_us == RECEIVED);

    /* Long names, a page with a name, messageId and a timestamp. */
    pixel(f, 0, "type=page&anonymousId=a1&name=Home%20Page&mid=xyz&timestamp=2015-02-23T22%3A28%3A55Z&ref=%2Fx%3Fy",
          &g);
    assert_int_equal(g.events, 1);
    ev = &g.r[0].u.ev;
    assert_int_equal(ev->type, FF_EV_PAGE);
    assert_str(ev->name, "Home Page");
    assert_str(ev->anonymous_id, "a1");
    assert_str(ev->message_id, "xyz");
    assert_true(ev->original_timestamp_us == iso("2015-02-23T22:28:55Z"));
    assert_json(ev->properties, "{\"ref\":\"/x?y\"}");

    /* An e-mail open carries no ids at all: still accepted. */
    pixel(f, 0, "e=open", &g);
    assert_int_equal(g.events, 1);
    assert_str(g.r[0].u.ev.event, "open");
    assert_json(g.r[0].u.ev.properties, "");

    /* The URL's type (/v1/pixel/<type>) decides. */
    pixel(f, FF_EV_IDENTIFY, "uid=u7", &g);
    assert_int_equal(g.events, 1);
    assert_int_equal(g.r[0].u.ev.type, FF_EV_IDENTIFY);

    /* Validation still applies: a track without an event name, a bad type. */
    pixel(f, 0, "uid=u&plan=x", &g);
    assert_int_equal(g.quarantined, 1);
    assert_quarantine(&g.r[0], FF_FMT_PIXEL, -1, "event", "uid=u&plan=x", strlen("uid=u&plan=x"));
    pixel_refused(f, 0, "type=nonsense&e=x", "type");
    /* Only e, uid, aid, mid and k are short names: t, n and ts are plain properties. */
    pixel(f, 0, "e=x&t=page&n=Home&ts=yesterday&event=ignored-dup", &g);
    assert_int_equal(g.events, 1);
    assert_int_equal(g.r[0].u.ev.type, FF_EV_TRACK);
    assert_str(g.r[0].u.ev.event, "x"); /* the first of repeated members wins */
    assert_json(g.r[0].u.ev.properties, "{\"t\":\"page\",\"n\":\"Home\",\"ts\":\"yesterday\"}");
    /* Percent-encoded bytes that are not UTF-8 or are control characters still make JSON. */
    pixel(f, 0, "e=x&bin=%00%01%22%5C%0A", &g);
    assert_int_equal(g.events, 1);
    assert_json(g.r[0].u.ev.properties, "{\"bin\":\"\\u0000\\u0001\\\"\\\\\\n\"}");
}

static void check_pixel_data(struct fx *f, const char *json, int url_safe, int padding, const char *want_event,
                             const char *want_props)
{
    char b64[4096], query[8192];
    b64_encode((const unsigned char *)json, strlen(json), b64, url_safe, padding);
    /* '+', '/' and '=' percent-encoded as a browser would; '-' and '_' need nothing. */
    size_t o = 0;
    o += (size_t)snprintf(query, sizeof query, "data=");
    for (const char *p = b64; *p; p++) {
        if (*p == '+' || *p == '/' || *p == '=') o += (size_t)snprintf(query + o, sizeof query - o, "%%%02X", *p);
        else query[o++] = *p;
    }
    query[o] = 0;
    struct got g;
    pixel(f, FF_EV_TRACK, query, &g);
    if (g.events != 1 && g.n && g.r[0].kind == FF_REC_QUARANTINE)
        print_error("data= of %zu base64 chars (JSON %zu bytes) quarantined: %.*s\n", strlen(b64), strlen(json),
                    (int)g.r[0].u.q.reason.len, g.r[0].u.q.reason.p);
    assert_int_equal(g.events, 1);
    assert_int_equal(g.n, 1);
    assert_str(g.r[0].u.ev.event, want_event);
    assert_json(g.r[0].u.ev.properties, want_props);
    assert_int_equal(g.r[0].u.ev.format, FF_FMT_PIXEL);
}

static void test_pixel_data(void **state)
{
    struct fx *f = *state;
    /* Segment's documented example. */
    const char *ex = "{\"writeKey\": \"YOUR_WRITE_KEY\", \"userId\": \"025pikachu025\", \"event\": \"Email Opened\", "
                     "\"properties\": {   \"subject\": \"The Electric Daily\",   \"email\": \"peekAtMe@email.poke\" }}";
    check_pixel_data(f, ex, 0, 0, "Email Opened",
                     "{\"subject\":\"The Electric Daily\",\"email\":\"peekAtMe@email.poke\"}");
    struct got g;
    pixel(f, FF_EV_TRACK,
          "data=eyJ3cml0ZUtleSI6ICJZT1VSX1dSSVRFX0tFWSIsICJ1c2VySWQiOiAiMDI1cGlrYWNodTAyNSIsICJldmVudCI6ICJFbWFpbCBPcGVu"
          "ZWQiLCAicHJvcGVydGllcyI6IHsgICAic3ViamVjdCI6ICJUaGUgRWxlY3RyaWMgRGFpbHkiLCAgICJlbWFpbCI6ICJwZWVrQXRNZUBlbWFp"
          "bC5wb2tlIiB9fQ",
          &g);
    assert_int_equal(g.events, 1);
    assert_str(g.r[0].u.ev.write_key, "YOUR_WRITE_KEY");
    assert_str(g.r[0].u.ev.user_id, "025pikachu025");
    check_pixel_data(f, ex, 1, 1, "Email Opened",
                     "{\"subject\":\"The Electric Daily\",\"email\":\"peekAtMe@email.poke\"}");
    /* Invalid base64, and valid base64 of something that is not JSON. */
    pixel_refused(f, FF_EV_TRACK, "data=!!!!!", "data");
    pixel_refused(f, FF_EV_TRACK, "data=eyJhIjox%21", "data");
    pixel(f, FF_EV_TRACK, "data=bm90IGpzb24", &g); /* "not json" */
    assert_int_equal(g.quarantined, 1);
    assert_int_equal(g.events, 0);
}

/* A data= value of exactly four base64 characters (or one) is a decoding failure to
 * quarantine like any other, not "too big": pixel.c sizes its output buffer at vlen + 1
 * bytes, but ff_base64_decode reserves n / 4 * 3 + 3, which is 6 > 5 for n = 4 (3 > 2 for
 * n = 1), so ff_ingest_pixel returns FF_ETOOBIG and routes.c answers 413. Fails today. */
static void test_pixel_data_four_chars(void **state)
{
    struct fx *f = *state;
    static const char *const qs[] = {"data=!!!!", "data=eyB9", "data=e", "data=bnVsbA"};
    for (size_t k = 0; k < sizeof qs / sizeof *qs; k++) {
        ff_batch_reset(&f->b, FF_FMT_PIXEL);
        int rc = ff_ingest_pixel(&f->ctx, FF_EV_TRACK, qs[k], strlen(qs[k]), &f->b);
        if (rc != 0 && rc != FF_EINVAL) print_error("%s: rc=%d (%s)\n", qs[k], rc, ff_strerror(rc));
        assert_true(rc == 0 || rc == FF_EINVAL);
        assert_int_equal(f->b.failed, 1);
        assert_int_equal(f->b.accepted, 0);
    }
}

/* Payloads of every size from small to a few hundred bytes, each in a fresh batch (as the
 * first request on a connection is): whatever the size, the event must come through. */
static void test_pixel_data_sizes(void **state)
{
    struct fx *f = *state;
    for (int extra = 0; extra < 400; extra += 1) {
        ff_batch_free(&f->b);
        ff_batch_init(&f->b, FF_FMT_PIXEL, 1 << 20);
        char pad_s[512], json[1024], props[600];
        memset(pad_s, 'p', (size_t)extra);
        pad_s[extra] = 0;
        snprintf(json, sizeof json, "{\"userId\":\"u\",\"event\":\"sized\",\"properties\":{\"pad\":\"%s\"}}", pad_s);
        snprintf(props, sizeof props, "{\"pad\":\"%s\"}", pad_s);
        check_pixel_data(f, json, extra % 2, extra % 3 == 0, "sized", props);
    }
}

/* ---- NDJSON import ---- */

static void test_import(void **state)
{
    struct fx *f = *state;
    const char *in = "{\"type\":\"track\",\"event\":\"a\",\"userId\":\"u\",\"messageId\":\"m1\"}\r\n" /* 1 */
                     "\n"                                                                        /* 2 blank */
                     "   \t\r\n"                                                                 /* 3 blank */
                     "{\"event\":\"seeded\",\"data\":{\"k\":\"v\"}}\n"                           /* 4 seed shape */
                     "not json\r\n"                                                              /* 5 bad */
                     "[1,2]\n"                                                                   /* 6 bad */
                     "{\"type\":\"identify\",\"traits\":{}}\n"                                   /* 7 no ids */
                     "{\"event\":\"segment-shaped\",\"userId\":\"u2\",\"properties\":{\"z\":0}}\n" /* 8 */
                     "{\"type\":\"page\",\"anonymousId\":\"a\",\"name\":\"P\"}";                 /* 9, no \n */
    struct got g;
    ingest_ok(f, FF_FMT_IMPORT, 0, in, &g);
    assert_int_equal(f->b.accepted, 4);
    assert_int_equal(f->b.failed, 3);
    assert_int_equal(g.n, 7);
    assert_int_equal(g.r[0].kind, FF_REC_EVENT);
    assert_str(g.r[0].u.ev.message_id, "m1");
    assert_int_equal(g.r[0].u.ev.format, FF_FMT_IMPORT);
    assert_int_equal(g.r[1].kind, FF_REC_EVENT);
    assert_str(g.r[1].u.ev.event, "seeded");
    assert_json(g.r[1].u.ev.properties, "{\"k\":\"v\"}");
    assert_quarantine(&g.r[2], FF_FMT_IMPORT, 5, "", "not json", 8); /* the CR is not part of the line */
    assert_quarantine(&g.r[3], FF_FMT_IMPORT, 6, "", "[1,2]", 5);
    assert_quarantine(&g.r[4], FF_FMT_IMPORT, 7, "userId", "{\"type\":\"identify\",\"traits\":{}}",
                      strlen("{\"type\":\"identify\",\"traits\":{}}"));
    assert_int_equal(g.r[5].kind, FF_REC_EVENT);
    assert_str(g.r[5].u.ev.event, "segment-shaped");
    assert_json(g.r[5].u.ev.properties, "{\"z\":0}");
    assert_int_equal(g.r[6].u.ev.type, FF_EV_PAGE);
    assert_str(g.r[6].u.ev.name, "P");
    assert_non_null(f->b.error);
    assert_string_equal(f->b.field, "");

    struct test_parsed tp;
    parse_failures(f, &tp);
    const struct ff_json_doc *d = &tp.doc;
    assert_int_equal(d->nodes[0].len, 3);
    static const int lines[] = {5, 6, 7};
    uint32_t c = 1;
    for (int k = 0; k < 3; k++, c = d->nodes[c].end) {
        uint32_t i = ff_json_get(d, c, "line");
        assert_int_not_equal(i, FF_JSON_NONE);
        assert_int_equal(d->nodes[i].v.i, lines[k]);
        assert_int_not_equal(ff_json_get(d, c, "error"), FF_JSON_NONE);
    }
    test_parsed_free(&tp);

    /* The first failure's text stays valid after later lines reuse the batch's buffers. */
    const char *in2 = "oops\n{\"type\":\"track\"}\nalso bad\n";
    ingest_ok(f, FF_FMT_IMPORT, 0, in2, &g);
    assert_int_equal(f->b.failed, 3);
    assert_non_null(f->b.error);
    assert_true(strstr(f->b.error, "JSON") != NULL);
    assert_quarantine(&g.r[0], FF_FMT_IMPORT, 1, "", "oops", 4);
    assert_quarantine(&g.r[1], FF_FMT_IMPORT, 2, "event", NULL, 0);
    assert_quarantine(&g.r[2], FF_FMT_IMPORT, 3, "", "also bad", 8);

    /* Empty and all-blank bodies: nothing. */
    assert_int_equal(ingest(f, FF_FMT_IMPORT, 0, "\n\r\n \n", 5), 0);
    assert_int_equal(f->b.nitems, 0);
    assert_int_equal(ingest(f, FF_FMT_IMPORT, 0, "", 0), 0);
    assert_int_equal(f->b.nitems, 0);
}

static void test_import_many_lines(void **state)
{
    struct fx *f = *state;
    /* More lines than the batch's initial item capacity; every 7th line bad. */
    struct ff_buf in;
    ff_buf_init(&in, 1 << 24);
    int n = 200, bad = 0;
    for (int k = 1; k <= n; k++) {
        if (k % 7 == 0) {
            ff_buf_printf(&in, "{\"event\":\"e%d\",\"data\":5}\n", k);
            bad++;
        } else {
            ff_buf_printf(&in, "{\"event\":\"e%d\",\"userId\":\"u\",\"messageId\":\"id-%d\"}\n", k, k);
        }
    }
    ff_batch_reset(&f->b, FF_FMT_IMPORT);
    assert_int_equal(ff_ingest_import(&f->ctx, in.data, in.len, &f->b), 0);
    assert_int_equal(f->b.accepted, n - bad);
    assert_int_equal(f->b.failed, bad);
    struct got g;
    collect(&f->b, &g);
    for (size_t k = 0; k < g.n; k++) {
        int line = (int)k + 1;
        char want[32];
        if (line % 7 == 0) {
            assert_int_equal(g.r[k].kind, FF_REC_QUARANTINE);
            assert_int_equal(g.r[k].u.q.index, line);
            assert_str(g.r[k].u.q.field, "data");
        } else {
            snprintf(want, sizeof want, "id-%d", line);
            assert_str(g.r[k].u.ev.message_id, want);
        }
    }
    ff_buf_free(&in);
}

static void test_reject(void **state)
{
    struct fx *f = *state;
    ff_batch_reset(&f->b, FF_FMT_SEGMENT);
    const char raw[] = "\x1f\x8b garbage";
    assert_int_equal(ff_ingest_reject(&f->ctx, &f->b, "bad encoding", "Content-Encoding", raw, sizeof raw - 1), 0);
    struct got g;
    collect(&f->b, &g);
    assert_int_equal(g.n, 1);
    assert_quarantine(&g.r[0], FF_FMT_SEGMENT, -1, "Content-Encoding", raw, sizeof raw - 1);
    assert_str(g.r[0].u.q.reason, "bad encoding");
    assert_string_equal(f->b.error, "bad encoding");
    assert_string_equal(f->b.field, "Content-Encoding");
}

/* ---- body decoding ---- */

static size_t zcompress(const void *in, size_t n, unsigned char *out, size_t cap, int window_bits)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

/* n bytes (malloc'ed) of text-like payload with random bytes mixed in. */
static unsigned char *payload(size_t n)
{
    unsigned char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = i % 97 < 60 ? (unsigned char)("{\"event\":\"x\"}\n"[i % 14]) : (unsigned char)test_rand64();
    return p;
}

/* plain[0..n) compressed (zcompress) into a malloc'ed buffer; its length in *len. */
static unsigned char *compressed(const unsigned char *plain, size_t n, int window_bits, size_t *len)
{
    unsigned char *z = malloc(n + 1024);
    assert_non_null(z);
    *len = zcompress(plain, n, z, n + 1024, window_bits);
    return z;
}

/* Decodes gzip z[0..zlen) into a buffer capped at `cap`: it must give back plain[0..n). */
static void expect_gunzip(const unsigned char *z, size_t zlen, size_t cap, const unsigned char *plain, size_t n)
{
    struct ff_buf tmp;
    ff_buf_init(&tmp, cap);
    const char *out;
    size_t out_len;
    int rc = ff_body_decode("gzip", 4, (const char *)z, zlen, &tmp, &out, &out_len);
    if (rc) print_error("decoded size %zu, cap %zu: rc=%d\n", n, cap, rc);
    assert_int_equal(rc, 0);
    assert_int_equal(out_len, n);
    assert_memory_equal(out, plain, n);
    ff_buf_free(&tmp);
}

static void test_body_decode(void **state)
{
    (void)state;
    test_rng_init(0xb0d7);
    size_t n = 200000, gzlen, zllen;
    unsigned char *plain = payload(n), *gz = compressed(plain, n, 15 + 16, &gzlen),
                  *zl = compressed(plain, n, 15, &zllen);
    assert_true(gz[0] == 0x1f && gz[1] == 0x8b);
    struct ff_buf tmp;
    ff_buf_init(&tmp, 1 << 20);
    const char *out;
    size_t out_len;
    static const char *const gzip_names[] = {"gzip", "GZip", "x-gzip", "", "identity"};
    for (size_t k = 0; k < sizeof gzip_names / sizeof *gzip_names; k++) {
        out = NULL;
        out_len = 0;
        int rc = ff_body_decode(gzip_names[k], strlen(gzip_names[k]), (const char *)gz, gzlen, &tmp, &out, &out_len);
        if (rc) print_error("encoding \"%s\": rc=%d\n", gzip_names[k], rc);
        assert_int_equal(rc, 0);
        assert_int_equal(out_len, n);
        assert_memory_equal(out, plain, n);
        assert_true(out == tmp.data);
        assert_true(tmp.cap >= tmp.len + FF_JSON_PADDING); /* usable by the JSON parser */
    }
    assert_int_equal(ff_body_decode("deflate", 7, (const char *)zl, zllen, &tmp, &out, &out_len), 0);
    assert_int_equal(out_len, n);
    assert_memory_equal(out, plain, n);
    /* The encoding is not NUL-terminated: only its enc_len bytes count. */
    assert_int_equal(ff_body_decode("gzipx", 4, (const char *)gz, gzlen, &tmp, &out, &out_len), 0);
    assert_int_equal(out_len, n);
    /* Identity: the input itself. */
    const char *text = "{\"event\":\"x\"}";
    assert_int_equal(ff_body_decode("", 0, text, strlen(text), &tmp, &out, &out_len), 0);
    assert_true(out == text);
    assert_int_equal(out_len, strlen(text));
    assert_int_equal(ff_body_decode("identity", 8, text, strlen(text), &tmp, &out, &out_len), 0);
    assert_true(out == text);
    /* Unknown encodings. */
    assert_int_equal(ff_body_decode("br", 2, text, strlen(text), &tmp, &out, &out_len), FF_EINVAL);
    assert_int_equal(ff_body_decode("compress", 8, text, strlen(text), &tmp, &out, &out_len), FF_EINVAL);
    /* gzip header on bytes that are not gzip. */
    assert_int_equal(ff_body_decode("gzip", 4, text, strlen(text), &tmp, &out, &out_len), FF_EINVAL);
    assert_int_equal(ff_body_decode("deflate", 7, text, strlen(text), &tmp, &out, &out_len), FF_EINVAL);
    assert_int_equal(ff_body_decode("gzip", 4, "", 0, &tmp, &out, &out_len), FF_EINVAL);

    /* Every kind of truncation: inside the header, the data, the trailer. */
    size_t cuts[] = {1, 2, 5, 10, 11, 20, gzlen / 3, gzlen / 2, gzlen - 9, gzlen - 8, gzlen - 4, gzlen - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        char *p = malloc(cuts[k]);
        memcpy(p, gz, cuts[k]);
        int rc = ff_body_decode("gzip", 4, p, cuts[k], &tmp, &out, &out_len);
        if (rc != FF_EINVAL) print_error("gzip cut to %zu of %zu bytes: rc=%d\n", cuts[k], gzlen, rc);
        assert_int_equal(rc, FF_EINVAL);
        free(p);
    }
    /* A flipped byte in the data or the CRC. */
    unsigned char *bad = malloc(gzlen);
    memcpy(bad, gz, gzlen);
    bad[gzlen - 6] ^= 0x55; /* CRC32 */
    assert_int_equal(ff_body_decode("gzip", 4, (const char *)bad, gzlen, &tmp, &out, &out_len), FF_EINVAL);
    memcpy(bad, gz, gzlen);
    bad[gzlen / 2] ^= 0xff;
    assert_int_equal(ff_body_decode("gzip", 4, (const char *)bad, gzlen, &tmp, &out, &out_len), FF_EINVAL);
    free(bad);

    /* Concatenated members decode to the concatenation. */
    unsigned char *two = malloc(2 * gzlen);
    memcpy(two, gz, gzlen);
    memcpy(two + gzlen, gz, gzlen);
    struct ff_buf big;
    ff_buf_init(&big, 1 << 21);
    assert_int_equal(ff_body_decode("gzip", 4, (const char *)two, 2 * gzlen, &big, &out, &out_len), 0);
    assert_int_equal(out_len, 2 * n);
    assert_memory_equal(out, plain, n);
    assert_memory_equal(out + n, plain, n);
    /* ... but trailing garbage after a member is an error. */
    memcpy(two + gzlen, "garbage!", 8);
    assert_int_equal(ff_body_decode("gzip", 4, (const char *)two, gzlen + 8, &big, &out, &out_len), FF_EINVAL);
    ff_buf_free(&big);
    free(two);

    /* An empty body, gzipped. */
    unsigned char e[64];
    size_t elen = zcompress("", 0, e, sizeof e, 31);
    assert_int_equal(ff_body_decode("gzip", 4, (const char *)e, elen, &tmp, &out, &out_len), 0);
    assert_int_equal(out_len, 0);
    assert_non_null(out);
    ff_buf_free(&tmp);
    free(plain);
    free(gz);
    free(zl);
}

static void test_body_decode_limit(void **state)
{
    (void)state;
    test_rng_init(0x11);
    size_t n = 100000, gzlen;
    unsigned char *plain = payload(n), *gz = compressed(plain, n, 31, &gzlen);
    const char *out;
    size_t out_len;
    /* Decoded size over the cap: FF_ETOOBIG, for caps far below and just below. */
    size_t caps[] = {1, 1000, 65536, 65537, n / 2, n - 1};
    for (size_t k = 0; k < sizeof caps / sizeof *caps; k++) {
        struct ff_buf tmp;
        ff_buf_init(&tmp, caps[k]);
        int rc = ff_body_decode("gzip", 4, (const char *)gz, gzlen, &tmp, &out, &out_len);
        if (rc != FF_ETOOBIG) print_error("cap %zu: rc=%d\n", caps[k], rc);
        assert_int_equal(rc, FF_ETOOBIG);
        assert_true(tmp.len <= caps[k]);
        ff_buf_free(&tmp);
    }
    /* At or above the decoded size: fine. */
    size_t okcaps[] = {n + 1, n + 100000};
    for (size_t k = 0; k < sizeof okcaps / sizeof *okcaps; k++) expect_gunzip(gz, gzlen, okcaps[k], plain, n);
    free(plain);
    free(gz);
}

/* A body whose decoded size is exactly the cap is within it ("exceeds tmp->max" is the
 * error). Kept separate: an output that ends exactly at the cap is a boundary case. */
static void test_body_decode_exact_cap(void **state)
{
    (void)state;
    test_rng_init(0x12);
    static const size_t sizes[] = {1, 100, 65536, 65537, 100000, 131072};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k], gzlen;
        unsigned char *plain = payload(n), *gz = compressed(plain, n, 31, &gzlen);
        expect_gunzip(gz, gzlen, n, plain, n); /* decoded size == cap */
        free(plain);
        free(gz);
    }
}

static void test_dedup_hash(void **state)
{
    (void)state;
    struct ff_str k1 = {"key1", 4}, k2 = {"key2", 4}, none = {"", 0};
    struct ff_str m1 = {"msg-1", 5}, m2 = {"msg-2", 5};
    assert_true(ff_dedup_hash(k1, m1, NULL) == ff_dedup_hash(k1, m1, NULL));
    /* The same bytes at another address hash the same. */
    char copy[] = "msg-1";
    assert_true(ff_dedup_hash(k1, m1, NULL) == ff_dedup_hash(k1, (struct ff_str){copy, 5}, NULL));
    assert_true(ff_dedup_hash(k1, m1, NULL) != ff_dedup_hash(k2, m1, NULL));
    assert_true(ff_dedup_hash(k1, m1, NULL) != ff_dedup_hash(none, m1, NULL));
    assert_true(ff_dedup_hash(k1, m1, NULL) != ff_dedup_hash(k1, m2, NULL));
    /* The boundary between key and id matters. */
    assert_true(ff_dedup_hash((struct ff_str){"ab", 2}, (struct ff_str){"c", 1}, NULL) !=
                ff_dedup_hash((struct ff_str){"a", 1}, (struct ff_str){"bc", 2}, NULL));
    assert_true(ff_dedup_hash(none, none, NULL) != 0);
    /* No collisions among a few thousand ids under two keys; never 0. */
    enum { N = 5000 };
    uint64_t *h = malloc(2 * N * sizeof *h);
    for (int i = 0; i < N; i++) {
        char id[16];
        int n = snprintf(id, sizeof id, "%d", i);
        h[2 * i] = ff_dedup_hash(k1, (struct ff_str){id, (uint32_t)n}, NULL);
        h[2 * i + 1] = ff_dedup_hash(k2, (struct ff_str){id, (uint32_t)n}, NULL);
    }
    for (int i = 0; i < 2 * N; i++) {
        assert_true(h[i] != 0);
        for (int j = i + 1; j < 2 * N; j++) assert_true(h[i] != h[j]);
    }
    free(h);
    /* The check: 1 to FF_DEDUP_CHECK_MASK, the same for the same id, spread over its range
     * and not the hash's own low bits (a check taken from the key would tell no two keys
     * that meet apart). */
    assert_int_equal(check_of(k1, m1), check_of(k1, (struct ff_str){copy, 5}));
    unsigned seen[FF_DEDUP_CHECK_MASK + 1] = {0}, same_low = 0;
    for (int i = 0; i < N; i++) {
        char id[16];
        int n = snprintf(id, sizeof id, "%d", i);
        unsigned c = check_of(k1, (struct ff_str){id, (uint32_t)n});
        assert_true(c >= 1 && c <= FF_DEDUP_CHECK_MASK);
        seen[c]++;
        same_low += c == (unsigned)(ff_dedup_hash(k1, (struct ff_str){id, (uint32_t)n}, NULL) & FF_DEDUP_CHECK_MASK);
    }
    unsigned distinct = 0;
    for (unsigned c = 0; c <= FF_DEDUP_CHECK_MASK; c++) distinct += seen[c] > 0;
    assert_true(distinct > 2800); /* 5000 draws from 4095 values: about 2900 distinct */
    assert_true(same_low < 20);   /* about 1 in 4096 by chance */
}

/* Every allocation of a decode may fail (SQLite's way of testing error paths): for each N,
 * the Nth allocation fails; the decoder must then either finish (when that allocation was
 * not needed) or return -ENOMEM, leaving a batch whose every record still decodes, and once
 * allocations work again the same input decodes as it did at first. Leaks show under ASan. */
static void test_allocation_failures(void **state)
{
    struct fx *f = *state;
    static const char body[] =
        "{\"batch\":[{\"type\":\"track\",\"event\":\"a\",\"userId\":\"u\",\"properties\":{\"x\":1.5},"
        "\"context\":{\"ip\":\"1.2.3.4\"}},{\"type\":\"group\"},{\"type\":\"identify\",\"anonymousId\":\"a\","
        "\"traits\":{\"n\":\"\\u00e9\"}}],\"context\":{\"library\":{\"name\":\"x\"}},\"sentAt\":\"2026-01-01T00:00:00Z\"}";
    /* Fresh buffers each time, so that the decode allocates instead of reusing. */
    ff_batch_free(&f->b);
    ff_batch_init(&f->b, FF_FMT_SEGMENT, 1 << 20);
    assert_int_equal(ingest(f, FF_FMT_SEGMENT, 0, body, sizeof body - 1), 0);
    uint32_t want_items = f->b.nitems, want_ok = f->b.accepted;
    assert_int_equal(want_items, 3);
    int failures_seen = 0;
    for (long n = 1; n < 200; n++) {
        ff_batch_free(&f->b);
        ff_batch_init(&f->b, FF_FMT_SEGMENT, 1 << 20);
        ff_alloc_fail_after(n);
        int rc = ingest(f, FF_FMT_SEGMENT, 0, body, sizeof body - 1);
        ff_alloc_fail_after(0);
        if (rc) {
            assert_int_equal(rc, -ENOMEM);
            failures_seen++;
        } else {
            assert_int_equal(f->b.nitems, want_items);
        }
        for (uint32_t i = 0; i < f->b.nitems; i++) {
            size_t off = f->b.items[i].off;
            struct ff_record rec;
            assert_int_equal(ff_record_decode(f->b.records.data, f->b.items[i].off + f->b.items[i].len, &off, &rec), 0);
        }
    }
    assert_true(failures_seen > 0); /* the loop did reach the decoder's allocations */
    assert_int_equal(ingest(f, FF_FMT_SEGMENT, 0, body, sizeof body - 1), 0);
    assert_int_equal(f->b.accepted, want_ok);
}

/* ---- access logs ---- */

static int ingest_log(struct fx *f, int log_format, int64_t first_line, const char *in)
{
    ff_batch_reset(&f->b, FF_FMT_LOG);
    size_t n = strlen(in);
    return ff_ingest_access_log(&f->ctx, log_format, first_line, pad(f, in, n), n, &f->b);
}

static void test_access_log_lines(void **state)
{
    struct fx *f = *state;
    const char *log =
        "203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] \"GET /a/b?x=1&y=2 HTTP/1.1\" 200 2326 "
        "\"https://www.google.com/\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0\" \"-\"\n"
        "\n"
        "not a log line at all\r\n"
        "198.51.100.7 - frank [10/Oct/2000:13:55:36 +0000] \"POST /api/x HTTP/2.0\" 201 - \"-\" \"curl/8 \\\"q\\\"\"\n"
        "198.51.100.7 - - [10/Oct/2000:13:55:36 +0000] \"-\" 408 0 \"-\" \"-\"\n"
        "198.51.100.7 - - [32/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n"
        "198.51.100.7 - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 2000 1 \"-\" \"-\"";
    assert_int_equal(ingest_log(f, FF_LOG_COMBINED, 10, log), 0);
    struct got g;
    collect(&f->b, &g);
    assert_int_equal(g.events, 3);
    assert_int_equal(g.quarantined, 3);
    const struct ff_event *a = &g.r[0].u.ev;
    assert_int_equal(a->type, FF_EV_PAGE);
    assert_int_equal(a->format, FF_FMT_LOG);
    assert_str(a->name, "/a/b");
    int64_t want;
    assert_int_equal(ff_time_parse_iso("2000-10-10T20:55:36Z", 20, &want), 0);
    assert_int_equal(a->timestamp_us, want);
    assert_int_equal(a->received_at_us, RECEIVED);
    assert_json(a->properties, "{\"path\":\"/a/b\",\"url\":\"/a/b?x=1&y=2\",\"search\":\"?x=1&y=2\",\"method\":\"GET\","
                               "\"status\":200,\"bytes\":2326,\"protocol\":\"HTTP/1.1\",\"referrer\":\"https://www.google.com/\"}");
    assert_json(a->context, "{\"ip\":\"203.0.113.9\",\"userAgent\":\"Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0\","
                            "\"page\":{\"path\":\"/a/b\",\"url\":\"/a/b?x=1&y=2\",\"search\":\"?x=1&y=2\","
                            "\"referrer\":\"https://www.google.com/\"},\"log\":{\"line\":10}}");
    assert_int_equal(strncmp(a->message_id.p, "log-", 4), 0);
    assert_true(a->message_id.len > 22 && !memcmp(a->message_id.p + a->message_id.len - 3, "-10", 3));
    /* line 12 (after a blank one) does not parse: quarantined with its number, CR cut */
    assert_int_equal(g.r[1].kind, FF_REC_QUARANTINE);
    assert_int_equal(g.r[1].u.q.index, 12);
    assert_str(g.r[1].u.q.raw, "not a log line at all");
    assert_str(g.r[1].u.q.field, "time");
    const struct ff_event *b = &g.r[2].u.ev;
    assert_str(b->user_id, "frank");
    assert_json(b->properties, "{\"path\":\"/api/x\",\"url\":\"/api/x\",\"method\":\"POST\",\"status\":201,\"bytes\":0,"
                               "\"protocol\":\"HTTP/2.0\"}");
    const struct ff_event *c = &g.r[3].u.ev; /* a request of "-" (a timeout) is still a hit */
    assert_int_equal(c->name.len, 0);
    assert_json(c->properties, "{\"status\":408,\"bytes\":0}");
    assert_int_equal(g.r[4].u.q.index, 15);
    assert_str(g.r[4].u.q.reason, "time is not dd/Mon/yyyy:hh:mm:ss +zzzz");
    assert_int_equal(g.r[5].u.q.index, 16);
    assert_str(g.r[5].u.q.field, "status");

    /* the same line at the same number: the same messageId (a re-import is deduplicated) */
    char mid[64];
    snprintf(mid, sizeof mid, "%.*s", (int)a->message_id.len, a->message_id.p);
    assert_int_equal(ingest_log(f, FF_LOG_COMBINED, 10, log), 0);
    collect(&f->b, &g);
    assert_str(g.r[0].u.ev.message_id, mid);
    assert_int_equal(ingest_log(f, FF_LOG_COMBINED, 11, log), 0);
    collect(&f->b, &g);
    assert_false(str_is(g.r[0].u.ev.message_id, mid));

    /* common: no referer or user agent; extra fields are an error there */
    assert_int_equal(ingest_log(f, FF_LOG_COMMON, 1,
                                "::1 - - [01/Jan/2026:00:00:00 +0000] \"GET /x HTTP/1.0\" 304 -\n"
                                "::1 - - [01/Jan/2026:00:00:00 +0000] \"GET /x HTTP/1.0\" 304 - \"-\" \"-\"\n"),
                     0);
    collect(&f->b, &g);
    assert_int_equal(g.events, 1);
    assert_json(g.r[0].u.ev.context, "{\"ip\":\"::1\",\"page\":{\"path\":\"/x\",\"url\":\"/x\"},\"log\":{\"line\":1}}");
    assert_int_equal(g.r[1].u.q.index, 2);
}

static void test_access_log_json(void **state)
{
    struct fx *f = *state;
    const char *log =
        "{\"time_iso8601\":\"2026-11-29T10:00:00+01:00\",\"remote_addr\":\"203.0.113.5\",\"request\":\"GET /p?q=1 HTTP/1.1\","
        "\"status\":\"200\",\"body_bytes_sent\":\"512\",\"http_referer\":\"\",\"http_user_agent\":\"UA/1\","
        "\"remote_user\":\"\"}\n"
        "{\"ts\":1764410400.5,\"request\":{\"remote_ip\":\"198.51.100.2\",\"method\":\"GET\",\"uri\":\"/c\","
        "\"proto\":\"HTTP/2.0\",\"headers\":{\"User-Agent\":[\"Caddy/UA\"],\"Referer\":[\"https://r.example/\"]}},"
        "\"status\":404,\"size\":12}\n"
        "{\"remote_addr\":\"1.2.3.4\",\"status\":200}\n"
        "[1,2]\n"
        "{not json\n";
    assert_int_equal(ingest_log(f, FF_LOG_JSON, 1, log), 0);
    struct got g;
    collect(&f->b, &g);
    assert_int_equal(g.events, 2);
    const struct ff_event *a = &g.r[0].u.ev;
    int64_t want;
    assert_int_equal(ff_time_parse_iso("2026-11-29T09:00:00Z", 20, &want), 0);
    assert_int_equal(a->timestamp_us, want);
    assert_str(a->name, "/p");
    assert_int_equal(a->user_id.len, 0);
    assert_json(a->properties, "{\"path\":\"/p\",\"url\":\"/p?q=1\",\"search\":\"?q=1\",\"method\":\"GET\",\"status\":200,"
                               "\"bytes\":512,\"protocol\":\"HTTP/1.1\"}");
    const struct ff_event *c = &g.r[1].u.ev;
    assert_int_equal(c->timestamp_us, 1764410400500000LL);
    assert_json(c->context, "{\"ip\":\"198.51.100.2\",\"userAgent\":\"Caddy/UA\",\"page\":{\"path\":\"/c\",\"url\":\"/c\","
                            "\"referrer\":\"https://r.example/\"},\"log\":{\"line\":2}}");
    assert_str(g.r[2].u.q.field, "time");
    assert_int_equal(g.r[2].u.q.index, 3);
    assert_str(g.r[3].u.q.reason, "line must be a JSON object");
    assert_str(g.r[4].u.q.reason, "line is not valid JSON");
    assert_int_equal(ff_log_format_parse("json", 4), FF_LOG_JSON);
    assert_int_equal(ff_log_format_parse("apache", 6), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_invalid_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_mixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_request_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_skew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_context_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_context_merge_long_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_key_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pixel_short_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pixel_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pixel_data_four_chars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pixel_data_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_many_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reject, setup, teardown),
        cmocka_unit_test(test_body_decode),
        cmocka_unit_test(test_body_decode_limit),
        cmocka_unit_test(test_body_decode_exact_cap),
        cmocka_unit_test(test_dedup_hash),
        cmocka_unit_test_setup_teardown(test_access_log_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_log_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocation_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
