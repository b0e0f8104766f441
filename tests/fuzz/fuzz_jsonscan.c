/* Differential fuzzing of the scanner that reads compact JSON without a parse
 * (core/jsonscan.h) against the parser it stands in for.
 *
 * The input is parsed; when it is an object, it is written back as compact text, which is
 * what the scanner meets in the store. Then:
 *   - every member the scanner hands out is the parser's member at the same place: same
 *     key, kind, number, string content (when not escaped) and text;
 *   - the property split (store/props.h) gives the same typed values and rest either way.
 * Both run on the canonical text and on the text ingest stores (core/json.h's shallow parse:
 * the input's own text when it is compact, so numbers come as the client wrote them).
 * The raw input is also scanned as it is, for crashes and reads out of bounds. */
#include <math.h>
#include <string.h>

#include "core/jsonscan.h"
#include "fuzz_common.h"
#include "store/props.h"

static struct ff_buf text, member, scratch;
static struct ff_json_parser *raw_parser; /* a second parser: fuzz_parser's doc stays valid */

static void scan_raw(const uint8_t *data, size_t size)
{
    struct ff_jscan sc;
    struct ff_jscan_member m;
    if (ff_jscan_begin(&sc, (const char *)data, size)) return;
    while (ff_jscan_next(&sc, &m) == 1)
        if (m.member.p < (const char *)data || m.member.p + m.member.len > (const char *)data + size) __builtin_trap();
}

static int kind_matches(const struct ff_json_node *n, const struct ff_jscan_member *m)
{
    switch (m->kind) {
    case FF_JS_STRING: return n->type == FF_JSON_STRING;
    case FF_JS_INT: return n->type == FF_JSON_INT && n->v.i == m->i;
    case FF_JS_DOUBLE: return n->type == FF_JSON_DOUBLE && (n->v.d == m->d || (isnan(n->v.d) && isnan(m->d)));
    case FF_JS_TRUE: return n->type == FF_JSON_TRUE;
    case FF_JS_FALSE: return n->type == FF_JSON_FALSE;
    case FF_JS_NULL: return n->type == FF_JSON_NULL;
    case FF_JS_OBJECT: return n->type == FF_JSON_OBJECT;
    case FF_JS_ARRAY: return n->type == FF_JSON_ARRAY;
    }
    return 0;
}

static void same_split(const struct ff_props_split *a, const struct ff_props_split *b, const struct ff_props_plan *plan)
{
    if (!ff_str_eq(a->rest[0], b->rest[0])) __builtin_trap();
    for (int k = 0; k < plan->n; k++) {
        const struct ff_colvec *x = &a->cols[k], *y = &b->cols[k];
        int same = x->type == FF_COL_I64   ? x->i64[0] == y->i64[0]
                   : x->type == FF_COL_F64 ? (isnan(x->f64[0]) ? isnan(y->f64[0]) : x->f64[0] == y->f64[0])
                   : x->type == FF_COL_U8  ? x->u8[0] == y->u8[0]
                                           : ff_str_eq(x->str[0], y->str[0]);
        if (!same) __builtin_trap();
    }
}

/* Scans `t` (the text of the object doc.nodes[0]) member by member against the parser, and
 * splits its properties both ways. `canonical`: t is what ff_json_write_node writes, so each
 * member's text is known exactly; otherwise (the input's own compact text, numbers as the
 * client wrote them) only keys, kinds and values are. */
static void check_text(const struct ff_json_doc *doc, struct ff_str t, int canonical)
{
    struct ff_jscan sc;
    struct ff_jscan_member m;
    uint32_t c = 1;
    int more = -1;
    if (!ff_jscan_begin(&sc, t.p, t.len)) {
        while ((more = ff_jscan_next(&sc, &m)) == 1) {
            if (c >= doc->nodes[0].end) __builtin_trap(); /* more members than the parser saw */
            const struct ff_json_node *n = &doc->nodes[c];
            if (!ff_str_eq(m.key, (struct ff_str){n->key, n->key_len}) || !kind_matches(n, &m)) __builtin_trap();
            if (m.kind == FF_JS_STRING && !m.escaped && !ff_str_eq(m.value, (struct ff_str){n->v.s, n->len}))
                __builtin_trap();
            if (canonical) {
                ff_buf_reset(&member);
                ff_json_write_str(&member, n->key, n->key_len);
                ff_buf_putc(&member, ':');
                ff_json_write_node(&member, doc, c);
                if (!ff_str_eq(m.member, (struct ff_str){member.data, (uint32_t)member.len})) __builtin_trap();
            }
            c = n->end;
        }
        if (more == 0 && c != doc->nodes[0].end) __builtin_trap(); /* ended early */
    }

    /* the property split both ways */
    struct ff_props_plan plan;
    struct ff_props_split fast, slow;
    if (ff_props_plan(&t, 1, &plan)) return;
    ff_jscan_off = 0;
    int rc1 = ff_props_split(&t, 1, &plan, &fast);
    ff_jscan_off = 1;
    int rc2 = ff_props_split(&t, 1, &plan, &slow);
    ff_jscan_off = 0;
    if (rc1 != rc2) __builtin_trap();
    if (!rc1) same_split(&fast, &slow, &plan);
    if (!rc1) ff_props_split_free(&fast);
    if (!rc2) ff_props_split_free(&slow);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scan_raw(data, size);
    const char *p = fuzz_padded(data, size);
    if (!text.max) {
        ff_buf_init(&text, (size_t)1 << 30);
        ff_buf_init(&member, (size_t)1 << 30);
        ff_buf_init(&scratch, (size_t)1 << 30);
        raw_parser = ff_json_parser_new();
    }
    struct ff_json_doc doc, shallow;
    if (ff_json_parse(fuzz_parser, p, size, &doc, NULL) || doc.nodes[0].type != FF_JSON_OBJECT) return 0;
    ff_buf_reset(&text);
    if (ff_json_write_node(&text, &doc, 0)) return 0;
    check_text(&doc, (struct ff_str){text.data, (uint32_t)text.len}, 1);
    /* as ingest stores it: the raw text of a shallow parse, the input's own when compact */
    if (ff_json_parse_shallow(raw_parser, p, size, 0, &shallow, NULL) || !(shallow.nodes[0].flags & FF_JSON_F_RAW))
        __builtin_trap();
    ff_buf_reset(&scratch);
    ff_buf_append(&scratch, shallow.nodes[0].v.s, shallow.nodes[0].len);
    ff_buf_reserve(&scratch, 0);
    check_text(&doc, (struct ff_str){scratch.data, (uint32_t)scratch.len}, 0);
    return 0;
}
