// json.cpp - the C++ side of json.h: simdjson's DOM parser flattened into ff_json_nodes.
// This is the project's only C++ file; everything it exposes is the C API in json.h.
#include "json.h"

#include <errno.h>
#include <string.h>

#include <new>
#include <simdjson.h>
#include <vector>

#include "errors.h"
#include "jsonscan.h"
#include "textcodec.h"

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
    ff_json_node *fast_nodes = nullptr; // the fast path's nodes (below)
    uint32_t fast_cap = 0, fast_count = 0;
    ff_buf unescaped, rewritten; // the fast path's strings with escapes, on their way to `raw`
    ff_json_parser()
    {
        ff_buf_init(&raw, (size_t)1 << 32);
        ff_buf_init(&unescaped, (size_t)1 << 32);
        ff_buf_init(&rewritten, (size_t)1 << 32);
    }
    ~ff_json_parser()
    {
        ff_buf_free(&raw);
        ff_buf_free(&unescaped);
        ff_buf_free(&rewritten);
        free(fast_nodes);
    }
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

// ---- the fast path: simdjson's stage 1, then one walk of its structural indexes ----
//
// The DOM path above costs three passes: simdjson's stage 2 builds its tape, flatten walks
// the tape into nodes, find_raw_spans walks the indexes again for the raw containers' text
// (together half of decoding a batched event). What SDKs send is compact JSON, so for such
// input one walk of the indexes that stage 1 leaves does all three: it checks the grammar,
// builds the nodes above raw_depth and finds each raw container's text, checking that the
// text is what write_compact would write (no whitespace, numbers as written), or writing it
// again when its strings have escapes (Python's SDK escapes every non-ASCII character).
// Anything else (whitespace inside a raw container, a number it does not read exactly, an
// invalid escape or one of a UTF-16 surrogate, a grammar error, great depth) declines, and
// the DOM path parses the input as before, with its errors. So the fast path never rejects
// input and never accepts what the DOM path would reject; tests/fuzz/fuzz_json.c checks
// that both give the same nodes.

int ff_json_fast_path = 1;

namespace {

// The content [s, e) of a string token, escapes resolved, into out (never longer than the
// input). False for an escape the fast path leaves to simdjson: an invalid one, or \u of a
// surrogate (pairs and strays alike).
bool unescape(const char *s, const char *e, ff_buf *out)
{
    ff_buf_reset(out);
    if (ff_buf_reserve(out, (size_t)(e - s))) return false;
    char *o = out->data;
    while (s < e) {
        const char *bs = (const char *)memchr(s, '\\', (size_t)(e - s));
        size_t run = bs ? (size_t)(bs - s) : (size_t)(e - s);
        memcpy(o, s, run);
        o += run;
        s += run;
        if (!bs) break;
        if (e - s < 2) return false;
        switch (s[1]) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            if (e - s < 6) return false;
            unsigned cp = 0;
            for (int i = 2; i < 6; i++) {
                int h = ff_hex_digit(s[i]);
                if (h < 0) return false;
                cp = cp << 4 | (unsigned)h;
            }
            if (cp >= 0xd800 && cp <= 0xdfff) return false;
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xc0 | cp >> 6);
                *o++ = (char)(0x80 | (cp & 0x3f));
            } else {
                *o++ = (char)(0xe0 | cp >> 12);
                *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            }
            s += 6;
            continue;
        }
        default: return false;
        }
        s += 2;
    }
    out->len = (size_t)(o - out->data);
    return true;
}

// The walk. Token k starts at ix[k] and the next one at ix[k + 1] (stage 1 ends the list
// with the input's length twice, so ix[n] is the end of the last token's room). A string's
// closing quote is the first unescaped one after its opening one, and stage 1 indexes
// whatever follows a closing quote: so it is the last non-blank byte before the next token.
// Escapes: whether the input has a backslash anywhere. Without one (SDKs' usual text) the
// walk is compiled without a look for escapes.
template <bool Escapes> struct fast_walk {
    ff_json_parser *p;
    const char *buf;
    const uint32_t *ix;
    uint32_t n, k, raw_depth;
    ff_json_node *nodes;
    uint32_t count;
    const char *end;       // the input's end
    const char *backslash; // the first backslash at or after the last place asked about

    // Whether [a, b) holds a backslash; *at is the first one at or after the last place
    // asked about. Asked in increasing order, so one memchr finds each backslash instead of
    // one per string.
    bool has_backslash(const char *a, const char *b, const char **at)
    {
        if (*at < a) {
            *at = (const char *)memchr(a, '\\', (size_t)(end - a));
            if (!*at) *at = end;
        }
        return *at < b;
    }

    // Text copied out of the input (reserved up front: it does not move); a string gets a
    // NUL after it, as in simdjson's buffer (its closing quote paid for that byte).
    const char *keep(const char *s, size_t l, bool nul)
    {
        char *dst = p->raw.data + p->raw.len;
        memcpy(dst, s, l);
        if (nul) dst[l] = '\0';
        p->raw.len += l + nul;
        return dst;
    }

    // A string's content [body, q) with its escapes resolved, kept; false to decline. Apart,
    // so that the common case below stays small enough to be inlined.
    __attribute__((noinline, cold)) bool keep_unescaped(const char *body, const char *q, const char **s, uint32_t *l)
    {
        if (!unescape(body, q, &p->unescaped)) return false;
        *l = (uint32_t)p->unescaped.len;
        *s = keep(p->unescaped.data, *l, true);
        return true;
    }

    // The string token k (outside raw containers: blanks may follow it); false to decline.
    bool string_at(const char **s, uint32_t *l)
    {
        uint32_t pos = ix[k], next = ix[k + 1];
        const char *q = buf + next - 1;
        while (q > buf + pos && is_ws(*q)) q--;
        if (q <= buf + pos || *q != '"') return false;
        const char *body = buf + pos + 1;
        if (Escapes && has_backslash(body, q, &backslash)) {
            if (!keep_unescaped(body, q, s, l)) return false;
        } else {
            *l = (uint32_t)(q - body);
            *s = keep(body, *l, true);
        }
        k++;
        return true;
    }

    // The compact text of the raw container in tokens [from, to] as write_compact writes it,
    // for one whose strings have escapes: those strings unescaped and written again, the rest
    // (checked to be as write_compact writes it; a string without a backslash is written as
    // it is) copied in runs.
    __attribute__((noinline, cold)) bool rewrite_raw(uint32_t from, uint32_t to, const char **text, uint32_t *len)
    {
        ff_buf *out = &p->rewritten;
        ff_buf_reset(out);
        uint32_t run = ix[from]; // start of the text not yet copied
        const char *at = buf + run;
        for (uint32_t t = from; t < to; t++) {
            const uint32_t pos = ix[t], end = ix[t + 1];
            if (buf[pos] != '"' || !has_backslash(buf + pos + 1, buf + end - 1, &at)) continue;
            if (ff_buf_append(out, buf + run, pos - run) || !unescape(buf + pos + 1, buf + end - 1, &p->unescaped) ||
                ff_json_write_str(out, p->unescaped.data, p->unescaped.len))
                return false;
            run = end;
        }
        /* Never longer than the input's text (an escape is never shorter than what
         * ff_json_write_str writes for its character), which is what `raw` has room for:
         * declined, not overrun, were that ever not so. */
        if (ff_buf_append(out, buf + run, ix[to] + 1 - run) || out->len > ix[to] + 1 - ix[from]) return false;
        *len = (uint32_t)out->len;
        *text = keep(out->data, out->len, false);
        return true;
    }

    // A compact container from token k (its opening bracket) to its closing bracket, which
    // token k ends on; false to decline. States: what the next token may be.
    bool raw_container(bool *escaped)
    {
        enum { VALUE, VALUE_OR_CLOSE, KEY_OR_CLOSE, KEY, COLON, COMMA_OR_CLOSE };
        *escaped = false;
        uint64_t objs = 0; // bit d: the container at depth d is an object
        uint32_t depth = 0;
        int want = VALUE;
        for (; k < n; k++) {
            const uint32_t pos = ix[k], next = ix[k + 1];
            const char c = buf[pos];
            switch (want) {
            case COLON:
                if (c != ':' || next != pos + 1) return false;
                want = VALUE;
                continue;
            case COMMA_OR_CLOSE:
                if (c == ',') {
                    if (next != pos + 1) return false;
                    want = objs >> (depth - 1) & 1 ? KEY : VALUE;
                    continue;
                }
                break; // a close, below
            case KEY_OR_CLOSE:
                if (c == '}') break;
                /* fall through */
            case KEY:
                if (c != '"' || next < pos + 2 || buf[next - 1] != '"') return false;
                if (Escapes && has_backslash(buf + pos + 1, buf + next - 1, &backslash)) *escaped = true;
                want = COLON;
                continue;
            case VALUE_OR_CLOSE:
                if (c == ']') break;
                /* fall through */
            case VALUE:
                switch (c) {
                case '{':
                case '[':
                    if (depth == 63 || next != pos + 1) return false;
                    objs = (objs & ~(1ull << depth)) | (uint64_t)(c == '{') << depth;
                    depth++;
                    want = c == '{' ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
                    continue;
                case '"':
                    if (next < pos + 2 || buf[next - 1] != '"') return false;
                    if (Escapes && has_backslash(buf + pos + 1, buf + next - 1, &backslash)) *escaped = true;
                    break;
                case 't':
                    if (next != pos + 4 || memcmp(buf + pos, "true", 4)) return false;
                    break;
                case 'f':
                    if (next != pos + 5 || memcmp(buf + pos, "false", 5)) return false;
                    break;
                case 'n':
                    if (next != pos + 4 || memcmp(buf + pos, "null", 4)) return false;
                    break;
                default: {
                    int64_t iv;
                    double dv;
                    if (ff_json_read_number(buf + pos, buf + next, &iv, &dv) < 0 || !canonical_number(buf + pos)) return false;
                }
                }
                want = COMMA_OR_CLOSE;
                continue;
            default:
                return false;
            }
            // A close: it must match the open container.
            if (c != (objs >> (depth - 1) & 1 ? '}' : ']')) return false;
            if (--depth == 0) return true;
            if (next != pos + 1) return false;
            want = COMMA_OR_CLOSE;
        }
        return false;
    }

    // The value at token k, with its key (NULL in an array or at the root), at `depth`;
    // k ends past it. False to decline.
    bool value(const char *key, uint32_t key_len, uint32_t depth)
    {
        if (k >= n || depth > 64) return false;
        uint32_t self = count++;
        ff_json_node &nd = nodes[self];
        nd.key = key;
        nd.key_len = key_len;
        nd.flags = 0;
        nd.len = 0;
        nd.v.u = 0;
        const uint32_t pos = ix[k], next = ix[k + 1];
        const char c = buf[pos];
        if (c == '{' || c == '[') {
            nd.type = c == '{' ? FF_JSON_OBJECT : FF_JSON_ARRAY;
            if (depth >= raw_depth) {
                const uint32_t first = k;
                bool escaped;
                if (!raw_container(&escaped)) return false;
                uint32_t close = ix[k];
                nd.flags = FF_JSON_F_RAW;
                if (!escaped) {
                    nd.len = close + 1 - pos;
                    nd.v.s = keep(buf + pos, nd.len, false);
                } else if (!rewrite_raw(first, k, &nd.v.s, &nd.len)) {
                    return false;
                }
                nd.end = count;
                k++;
                return true;
            }
            k++;
            const char close = c == '{' ? '}' : ']';
            uint32_t members = 0;
            if (k < n && buf[ix[k]] == close) {
                k++;
            } else {
                for (;;) {
                    const char *ck = nullptr;
                    uint32_t cl = 0;
                    if (c == '{') {
                        if (k >= n || buf[ix[k]] != '"' || !string_at(&ck, &cl)) return false;
                        if (k >= n || buf[ix[k]] != ':') return false;
                        k++;
                    }
                    if (!value(ck, cl, depth + 1)) return false;
                    members++;
                    if (k >= n) return false;
                    char t = buf[ix[k++]];
                    if (t == close) break;
                    if (t != ',') return false;
                }
            }
            nd.len = members; // nodes[] never moves: it is sized for every token
            nd.end = count;
            return true;
        }
        if (c == '"') {
            const char *s;
            uint32_t l;
            if (!string_at(&s, &l)) return false;
            nd.type = FF_JSON_STRING;
            nd.v.s = s;
            nd.len = l;
            nd.end = count;
            return true;
        }
        const char *e = buf + next;
        while (e > buf + pos && is_ws(e[-1])) e--;
        if (c == 't' && e == buf + pos + 4 && !memcmp(buf + pos, "true", 4)) nd.type = FF_JSON_TRUE;
        else if (c == 'f' && e == buf + pos + 5 && !memcmp(buf + pos, "false", 5)) nd.type = FF_JSON_FALSE;
        else if (c == 'n' && e == buf + pos + 4 && !memcmp(buf + pos, "null", 4)) nd.type = FF_JSON_NULL;
        else {
            int kind = ff_json_read_number(buf + pos, e, &nd.v.i, &nd.v.d);
            if (kind < 0) return false;
            nd.type = kind == 0 ? FF_JSON_INT : FF_JSON_DOUBLE;
        }
        nd.end = count;
        k++;
        return true;
    }
};

} // namespace

// One value from token 0, then nothing (all n tokens used): its nodes into p->fast_nodes.
template <bool Escapes>
static bool walk(ff_json_parser *p, const char *buf, size_t len, const uint32_t *ix, uint32_t n, uint32_t raw_depth)
{
    fast_walk<Escapes> w{p, buf, ix, n, 0, raw_depth, p->fast_nodes, 0, buf + len, Escapes ? buf : buf + len};
    if (!w.value(nullptr, 0, 0) || w.k != n) return false;
    p->fast_count = w.count;
    return true;
}

// 1 when the input was parsed into p->fast_nodes, 0 to decline, -ENOMEM.
static int fast_parse(ff_json_parser *p, const char *buf, size_t len, uint32_t raw_depth)
{
    if (!ff_json_fast_path || len >= UINT32_MAX - FF_JSON_PADDING) return 0;
    if (p->parser.capacity() < len && p->parser.allocate(len)) return -ENOMEM;
    simdjson::internal::dom_parser_implementation *impl = p->parser.implementation.get();
    if (!impl || impl->stage1((const uint8_t *)buf, len, simdjson::stage1_mode::regular)) return 0;
    const uint32_t n = impl->n_structural_indexes;
    const uint32_t *ix = impl->structural_indexes.get();
    if (!n || ix[n] != len) return 0;
    if (n > p->fast_cap) { // at most one node per token
        ff_json_node *a = (ff_json_node *)realloc(p->fast_nodes, (size_t)n * sizeof *a);
        if (!a) return -ENOMEM;
        p->fast_nodes = a;
        p->fast_cap = n;
    }
    ff_buf_reset(&p->raw);
    if (ff_buf_reserve(&p->raw, len + 1)) return -ENOMEM;
    bool ok = memchr(buf, '\\', len) ? walk<true>(p, buf, len, ix, n, raw_depth) : walk<false>(p, buf, len, ix, n, raw_depth);
    if (!ok) return 0;
    p->raw.data[p->raw.len] = '\0';
    return 1;
}

extern "C" int ff_json_parse_shallow(struct ff_json_parser *p, const char *buf, size_t len, uint32_t raw_depth,
                                     struct ff_json_doc *doc, const char **err)
{
    try {
        int fast = fast_parse(p, buf, len, raw_depth);
        if (fast < 0) {
            if (err) *err = "out of memory";
            return fast;
        }
        if (fast == 1) {
            doc->nodes = p->fast_nodes;
            doc->count = p->fast_count;
            return 0;
        }
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
