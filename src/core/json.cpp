// json.cpp - the C++ side of json.h: simdjson's DOM parser flattened into ff_json_nodes.
// This is the project's only C++ file; everything it exposes is the C API in json.h.
#include "json.h"

#include <errno.h>
#include <string.h>

#include <new>
#include <simdjson.h>
#include <vector>

#include "errors.h"

// Where a raw container's text lies in the input; `plain` when that text is already what
// write_compact would write (no whitespace between tokens, no escapes, numbers as it writes
// them), so it is copied.
struct raw_span {
    uint32_t start, end;
    bool plain;
};

struct ff_json_parser {
    simdjson::dom::parser parser;
    std::vector<ff_json_node> nodes;
    ff_buf raw; // text of raw nodes; their v.s holds an offset until the parse ends
    std::vector<raw_span> spans; // the input's raw containers, in document order
    size_t next_span;            // the next one flatten meets
    bool spans_ok;               // spans found and consistent: flatten may use them
    const char *input;
    ff_json_parser() { ff_buf_init(&raw, (size_t)1 << 32); }
    ~ff_json_parser() { ff_buf_free(&raw); }
};

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Whether the number at s is written as write_compact would write it again, so the input's
// text can stand: an integer of up to 18 digits (not "-0"), or a decimal that
// ff_json_write_double writes the same way: 1e-4 <= |x| < 1e9, one to nine fraction digits,
// the last not 0 unless it is the only one ("88.0"), at most 15 significant digits (then the
// digits are the shortest that read back). Anything else (exponents, "88.00") is written again.
static bool canonical_number(const char *s)
{
    const char *p = s;
    if (*p == '-') p++;
    const char *ip = p;
    while (*p >= '0' && *p <= '9') p++;
    size_t nip = (size_t)(p - ip);
    if (*p == 'e' || *p == 'E') return false;
    if (*p != '.') return nip <= 18 && !(nip == 1 && *ip == '0' && s[0] == '-');
    const char *fp = ++p;
    while (*p >= '0' && *p <= '9') p++;
    size_t nfp = (size_t)(p - fp);
    if (*p == 'e' || *p == 'E' || nfp == 0 || nfp > 9 || nip > 9) return false;
    if (nfp == 1 && *fp == '0') return !(nip == 1 && *ip == '0'); // "88.0", not "0.0"
    if (fp[nfp - 1] == '0') return false;
    size_t lead = 0; // zeros before the first significant digit
    if (nip == 1 && *ip == '0') {
        while (lead < nfp && fp[lead] == '0') lead++;
        if (lead > 3) return false; // below 1e-4
        return nfp - lead <= 15;
    }
    return nip + nfp <= 15;
}

// The raw containers' spans, from the structural indexes simdjson's stage 1 left in the
// parser (every bracket, colon and comma outside strings, and where each scalar starts), so
// the text of an SDK's compact properties and context is copied instead of written again
// from the parsed tree, which was a sixth of the event loops' time under batched ingest.
// Whitespace between tokens always touches a bracket, colon or comma, so looking beside
// those finds it. The indexes are a member simdjson keeps public for benchmarks, not a
// promised interface: anything inconsistent (depth, count, bounds) and flatten writes every
// raw container itself, as before.
static bool find_raw_spans(ff_json_parser *p, const char *buf, size_t len, uint32_t raw_depth)
{
    p->spans.clear();
    p->next_span = 0;
    const simdjson::internal::dom_parser_implementation *impl = p->parser.implementation.get();
    if (!impl || !impl->structural_indexes || raw_depth == UINT32_MAX) return false;
    const uint32_t *ix = impl->structural_indexes.get();
    uint32_t depth = 0, open_at = 0;
    bool compact = true;
    for (uint32_t k = 0; k < impl->n_structural_indexes; k++) {
        uint32_t pos = ix[k];
        if (pos >= len) return false;
        switch (buf[pos]) {
        case '{':
        case '[':
            if (depth == raw_depth) open_at = pos, compact = true;
            depth++;
            if (depth > raw_depth && (pos + 1 >= len || is_ws(buf[pos + 1]))) compact = false;
            break;
        case '}':
        case ']':
            if (depth == 0) return false;
            if (depth > raw_depth && is_ws(buf[pos - 1])) compact = false;
            if (--depth == raw_depth)
                p->spans.push_back({open_at, pos + 1, compact && !memchr(buf + open_at, '\\', pos + 1 - open_at)});
            break;
        case ':':
        case ',':
            if (depth > raw_depth && (pos == 0 || pos + 1 >= len || is_ws(buf[pos - 1]) || is_ws(buf[pos + 1])))
                compact = false;
            break;
        case '-':
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9':
            if (depth > raw_depth && compact && !canonical_number(buf + pos)) compact = false;
            break;
        default:
            break;
        }
    }
    return depth == 0;
}

// Compact JSON text of a DOM element, written with the C writers so it is byte for byte what
// ff_json_write_node would write from nodes.
static int write_compact(ff_buf *b, simdjson::dom::element e)
{
    using simdjson::dom::element_type;
    int rc = 0;
    switch (e.type()) {
    case element_type::ARRAY: {
        simdjson::dom::array arr;
        if (e.get_array().get(arr)) return FF_EINVAL;
        bool first = true;
        if ((rc = ff_buf_putc(b, '['))) return rc;
        for (simdjson::dom::element c : arr) {
            if (!first && (rc = ff_buf_putc(b, ','))) return rc;
            first = false;
            if ((rc = write_compact(b, c))) return rc;
        }
        return ff_buf_putc(b, ']');
    }
    case element_type::OBJECT: {
        simdjson::dom::object obj;
        if (e.get_object().get(obj)) return FF_EINVAL;
        bool first = true;
        if ((rc = ff_buf_putc(b, '{'))) return rc;
        for (simdjson::dom::key_value_pair kv : obj) {
            if (!first && (rc = ff_buf_putc(b, ','))) return rc;
            first = false;
            if ((rc = ff_json_write_str(b, kv.key.data(), kv.key.size()))) return rc;
            if ((rc = ff_buf_putc(b, ':'))) return rc;
            if ((rc = write_compact(b, kv.value))) return rc;
        }
        return ff_buf_putc(b, '}');
    }
    case element_type::STRING: {
        std::string_view s = e.get_string().value_unsafe();
        return ff_json_write_str(b, s.data(), s.size());
    }
    case element_type::INT64: return ff_json_write_int(b, e.get_int64().value_unsafe());
    case element_type::UINT64: return ff_json_write_uint(b, e.get_uint64().value_unsafe());
    case element_type::DOUBLE: return ff_json_write_double(b, e.get_double().value_unsafe());
    case element_type::BOOL: return e.get_bool().value_unsafe() ? ff_buf_append(b, "true", 4) : ff_buf_append(b, "false", 5);
    case element_type::NULL_VALUE: return ff_buf_append(b, "null", 4);
    }
    return FF_EINVAL;
}

extern "C" struct ff_json_parser *ff_json_parser_new(void)
{
    return new (std::nothrow) ff_json_parser();
}

extern "C" void ff_json_parser_free(struct ff_json_parser *p) { delete p; }

static int flatten(ff_json_parser *p, simdjson::dom::element e, std::string_view key, bool has_key, uint32_t depth,
                   uint32_t raw_depth)
{
    using simdjson::dom::element_type;
    std::vector<ff_json_node> &out = p->nodes;
    size_t self = out.size();
    out.emplace_back();
    ff_json_node n{};
    if (has_key) {
        n.key = key.data();
        n.key_len = (uint32_t)key.size();
    }
    element_type t = e.type();
    if (depth >= raw_depth && (t == element_type::ARRAY || t == element_type::OBJECT)) {
        size_t off = p->raw.len;
        const raw_span *sp = p->spans_ok && p->next_span < p->spans.size() ? &p->spans[p->next_span++] : nullptr;
        if (sp && p->input[sp->start] != (t == element_type::ARRAY ? '[' : '{')) p->next_span = SIZE_MAX; // disagree
        int rc = sp && sp->plain && p->next_span != SIZE_MAX
                     ? ff_buf_append(&p->raw, p->input + sp->start, sp->end - sp->start)
                     : write_compact(&p->raw, e);
        if (rc) return rc;
        n.type = t == element_type::ARRAY ? FF_JSON_ARRAY : FF_JSON_OBJECT;
        n.flags = FF_JSON_F_RAW;
        n.v.u = off; // made a pointer once the text stops moving
        n.len = (uint32_t)(p->raw.len - off);
        n.end = (uint32_t)out.size();
        out[self] = n;
        return 0;
    }
    switch (t) {
    case element_type::ARRAY: {
        n.type = FF_JSON_ARRAY;
        simdjson::dom::array arr;
        if (e.get_array().get(arr)) break; // cannot fail: the type was checked
        for (simdjson::dom::element c : arr) {
            if (int rc = flatten(p, c, {}, false, depth + 1, raw_depth)) return rc;
            n.len++;
        }
        break;
    }
    case element_type::OBJECT: {
        n.type = FF_JSON_OBJECT;
        simdjson::dom::object obj;
        if (e.get_object().get(obj)) break;
        for (simdjson::dom::key_value_pair kv : obj) {
            if (int rc = flatten(p, kv.value, kv.key, true, depth + 1, raw_depth)) return rc;
            n.len++;
        }
        break;
    }
    case element_type::STRING: {
        std::string_view s = e.get_string().value_unsafe();
        n.type = FF_JSON_STRING;
        n.v.s = s.data();
        n.len = (uint32_t)s.size();
        break;
    }
    case element_type::INT64: n.type = FF_JSON_INT; n.v.i = e.get_int64().value_unsafe(); break;
    case element_type::UINT64: n.type = FF_JSON_UINT; n.v.u = e.get_uint64().value_unsafe(); break;
    case element_type::DOUBLE: n.type = FF_JSON_DOUBLE; n.v.d = e.get_double().value_unsafe(); break;
    case element_type::BOOL: n.type = e.get_bool().value_unsafe() ? FF_JSON_TRUE : FF_JSON_FALSE; break;
    case element_type::NULL_VALUE: n.type = FF_JSON_NULL; break;
    }
    n.end = (uint32_t)out.size();
    out[self] = n;
    return 0;
}

extern "C" int ff_json_parse_shallow(struct ff_json_parser *p, const char *buf, size_t len, uint32_t raw_depth,
                                     struct ff_json_doc *doc, const char **err)
{
    try {
        simdjson::dom::element root;
        auto error = p->parser.parse((const uint8_t *)buf, len, false).get(root);
        if (error) {
            if (err) *err = simdjson::error_message(error);
            return error == simdjson::MEMALLOC ? -ENOMEM : FF_EINVAL;
        }
        p->nodes.clear();
        ff_buf_reset(&p->raw);
        p->input = buf;
        p->spans_ok = find_raw_spans(p, buf, len, raw_depth);
        int rc = flatten(p, root, {}, false, 0, raw_depth);
        // every span met once, or the spans and the tree disagreed: write them all
        if (!rc && p->spans_ok && p->next_span != p->spans.size()) {
            p->spans_ok = false;
            p->nodes.clear();
            ff_buf_reset(&p->raw);
            rc = flatten(p, root, {}, false, 0, raw_depth);
        }
        if (!rc) rc = ff_buf_reserve(&p->raw, 0); // padding after the last text, and never NULL
        if (rc) {
            if (err) *err = rc == -ENOMEM ? "out of memory" : "too large";
            return rc;
        }
        for (ff_json_node &n : p->nodes)
            if (n.flags & FF_JSON_F_RAW) n.v.s = p->raw.data + n.v.u;
        doc->nodes = p->nodes.data();
        doc->count = (uint32_t)p->nodes.size();
        return 0;
    } catch (const std::bad_alloc &) {
        if (err) *err = "out of memory";
        return -ENOMEM;
    }
}

extern "C" int ff_json_parse(struct ff_json_parser *p, const char *buf, size_t len, struct ff_json_doc *doc,
                             const char **err)
{
    return ff_json_parse_shallow(p, buf, len, UINT32_MAX, doc, err);
}
