/* fields.c - the fields a query can name, their values in an event, and filters over them
 * (see query.h). Page and campaign fields are derived as the store derives its columns
 * (store/derive.h); properties.KEY reads the event's properties, KEY a dotted path. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/json.h"
#include "event/event.h"
#include "query/query_int.h"
#include "store/derive.h"

enum {
    F_EVENT, F_TYPE, F_PROJECT, F_BOT,
    F_STRING,  /* a string member of struct ff_event, at names[].off */
    F_DERIVED, /* + FF_D(column): url … clickId */
    F_PROPERTY = F_DERIVED + FF_NDERIVED,
    F_TRAIT,   /* person.KEY */
    F_PAGE,    /* a pageview's page: a screen's name, a page's path (else its URL's, else its name) */
};

#define AT(member) offsetof(struct ff_event, member)
static const struct {
    const char *name;
    int id;
    size_t off; /* F_STRING: where the value is */
    int col;    /* the part column it is read from (schema.h); -1: see ff_field_columns */
} names[] = {
    {"event", F_EVENT, 0, -1}, {"type", F_TYPE, 0, -1}, {"name", F_STRING, AT(name), FF_C_NAME},
    {"messageId", F_STRING, AT(message_id), FF_C_MESSAGE_ID}, {"userId", F_STRING, AT(user_id), FF_C_USER_ID},
    {"anonymousId", F_STRING, AT(anonymous_id), FF_C_ANONYMOUS_ID},
    {"personId", F_STRING, AT(person_id), FF_C_PERSON_ID}, {"sessionId", F_STRING, AT(session_id), FF_C_SESSION_ID},
    {"groupId", F_STRING, AT(group_id), FF_C_GROUP_ID}, {"project", F_PROJECT, 0, -1},
    {"browser", F_STRING, AT(browser), FF_C_BROWSER},
    {"browserVersion", F_STRING, AT(browser_version), FF_C_BROWSER_VERSION}, {"os", F_STRING, AT(os), FF_C_OS},
    {"osVersion", F_STRING, AT(os_version), FF_C_OS_VERSION},
    {"deviceType", F_STRING, AT(device_type), FF_C_DEVICE_TYPE}, {"country", F_STRING, AT(country), FF_C_COUNTRY},
    {"region", F_STRING, AT(region), FF_C_REGION}, {"city", F_STRING, AT(city), FF_C_CITY}, {"bot", F_BOT, 0, -1},
    {"url", F_DERIVED + FF_D(FF_C_PAGE_URL), 0, -1}, {"path", F_DERIVED + FF_D(FF_C_PAGE_PATH), 0, -1},
    {"title", F_DERIVED + FF_D(FF_C_PAGE_TITLE), 0, -1}, {"referrer", F_DERIVED + FF_D(FF_C_PAGE_REFERRER), 0, -1},
    {"utm_source", F_DERIVED + FF_D(FF_C_UTM_SOURCE), 0, -1},
    {"utm_medium", F_DERIVED + FF_D(FF_C_UTM_MEDIUM), 0, -1},
    {"utm_campaign", F_DERIVED + FF_D(FF_C_UTM_CAMPAIGN), 0, -1},
    {"utm_term", F_DERIVED + FF_D(FF_C_UTM_TERM), 0, -1},
    {"utm_content", F_DERIVED + FF_D(FF_C_UTM_CONTENT), 0, -1}, {"source", F_DERIVED + FF_D(FF_C_SOURCE), 0, -1},
    {"channel", F_DERIVED + FF_D(FF_C_CHANNEL), 0, -1}, {"clickId", F_DERIVED + FF_D(FF_C_CLICK_ID), 0, -1},
    {"page", F_PAGE, 0, -1},
};

int ff_field_compile(const char *name, size_t len, struct ff_field *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    if (len >= sizeof f->name) {
        snprintf(err, errlen, "a field name is at most %zu bytes", sizeof f->name - 1);
        return -1;
    }
    memcpy(f->name, name, len);
    static const char prop[] = "properties.";
    if (len > sizeof prop - 1 && memcmp(name, prop, sizeof prop - 1) == 0) {
        f->id = F_PROPERTY;
        memcpy(f->prop, name + sizeof prop - 1, len - (sizeof prop - 1));
        return 0;
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0) {
            f->id = names[i].id;
            f->off = names[i].off;
            f->col = names[i].col;
            return 0;
        }
    if (len > 7 && memcmp(name, "person.", 7) == 0) {
        f->id = F_TRAIT;
        memcpy(f->prop, name + 7, len - 7);
        return 0;
    }
    size_t o = (size_t)snprintf(err, errlen, "unknown field '%s': fields are properties.KEY and", f->name);
    for (size_t i = 0; i < sizeof names / sizeof *names && o < errlen; i++)
        o += (size_t)snprintf(err + o, errlen - o, " %s", names[i].name);
    return -1;
}

void ff_field_columns(const struct ff_field *f, uint8_t *cols)
{
    switch (f->id) {
    case F_EVENT: cols[FF_C_TYPE] = cols[FF_C_EVENT] = 1; break;
    case F_TYPE: cols[FF_C_TYPE] = 1; break;
    case F_STRING: cols[f->col] = 1; break;
    case F_PROJECT: cols[FF_C_PROJECT] = 1; break;
    case F_BOT: cols[FF_C_BOT] = 1; break;
    case F_PROPERTY: cols[FF_C_PROPERTIES] = 1; break;
    case F_TRAIT: cols[FF_C_PERSON_ID] = 1; break;
    case F_PAGE: cols[FF_C_TYPE] = cols[FF_C_NAME] = cols[FF_C_PROPERTIES] = cols[FF_C_CONTEXT] = 1; break;
    default: /* derived: a page's properties, the context's page and campaign */
        cols[FF_C_TYPE] = cols[FF_C_PROPERTIES] = cols[FF_C_CONTEXT] = 1;
        break;
    }
}

/* ---- values ---- */

struct ff_field_ctx {
    const struct ff_event *ev;  /* the event the cached values are of */
    struct ff_deriver d;
    struct ff_span spans[FF_NDERIVED];
    int derived, parsed, parse_ok;
    struct ff_json_parser *parser;
    struct ff_buf scratch, text;
    struct ff_json_doc doc;
    pcre2_match_data *md;
    const struct ff_traits *traits;
    struct ff_json_parser *trait_parser;
    struct ff_buf trait_scratch;
    struct ff_json_doc trait_doc;
};

int ff_field_is_trait(const struct ff_field *f) { return f->id == F_TRAIT; }
void ff_field_ctx_set_traits(struct ff_field_ctx *c, const struct ff_traits *tr) { c->traits = tr; }

struct ff_field_ctx *ff_field_ctx_new(void)
{
    struct ff_field_ctx *c = ff_calloc(1, sizeof *c);
    if (!c) return NULL;
    if (ff_deriver_init(&c->d) || !(c->parser = ff_json_parser_new()) || !(c->trait_parser = ff_json_parser_new()) ||
        !(c->md = pcre2_match_data_create(32, NULL))) {
        ff_field_ctx_free(c);
        return NULL;
    }
    ff_buf_init(&c->scratch, (size_t)1 << 30);
    ff_buf_init(&c->text, (size_t)1 << 30);
    ff_buf_init(&c->trait_scratch, (size_t)1 << 30);
    return c;
}

void ff_field_ctx_free(struct ff_field_ctx *c)
{
    if (!c) return;
    ff_deriver_free(&c->d);
    ff_json_parser_free(c->parser);
    ff_json_parser_free(c->trait_parser);
    ff_buf_free(&c->trait_scratch);
    ff_buf_free(&c->scratch);
    ff_buf_free(&c->text);
    if (c->md) pcre2_match_data_free(c->md);
    ff_free(c);
}

void ff_field_ctx_reset(struct ff_field_ctx *c)
{
    c->ev = NULL;
    c->derived = c->parsed = 0;
}

static int some(struct ff_str v, struct ff_str *out)
{
    *out = v;
    return v.len > 0;
}

static struct ff_str lit(const char *s) { return (struct ff_str){s, (uint32_t)strlen(s)}; }

/* The name series and breakdowns use for an event: a track call's name, else "$pageview",
 * "$screen", "$identify", "$group" or "$alias" (PostHog's names). */
struct ff_str ff_event_query_name(int type, struct ff_str event)
{
    static const char *const special[] = {"", "", "$pageview", "$screen", "$identify", "$group", "$alias"};
    if (type == FF_EV_TRACK) return event;
    return lit(type >= 0 && type <= FF_EV_TYPE_MAX ? special[type] : "");
}

static struct ff_str event_name(const struct ff_event *ev) { return ff_event_query_name(ev->type, ev->event); }

int ff_field_vector(const struct ff_field *f, int *col)
{
    *col = f->col;
    switch (f->id) {
    case F_EVENT: return FF_FV_EVENT;
    case F_TYPE: return FF_FV_TYPE;
    case F_PROJECT: return FF_FV_PROJECT;
    case F_BOT: return FF_FV_BOT;
    case F_STRING: return f->col == FF_C_PERSON_ID ? FF_FV_NONE : FF_FV_COLUMN; /* resolved at query time */
    case F_PROPERTY: return FF_FV_PROP;
    case F_TRAIT: return FF_FV_TRAIT;
    case F_PAGE: return FF_FV_PAGE;
    default: break;
    }
    if (f->id == F_DERIVED + FF_D(FF_C_PAGE_PATH)) return FF_FV_PATH;
    *col = FF_C_PAGE_URL + (f->id - F_DERIVED); /* parts store what the deriver made */
    return FF_FV_COLUMN;
}

int ff_field_double_text(struct ff_buf *o, double d)
{
    /* as a person would write it: 89.99, and 100 rather than 100.0 */
    return d == floor(d) && fabs(d) < 1e15 ? ff_json_write_int(o, (int64_t)d) : ff_json_write_double(o, d);
}

/* A JSON node of doc as text: strings as they are, numbers and booleans as written. */
static int node_text(struct ff_field_ctx *c, const struct ff_json_doc *doc, uint32_t i, struct ff_str *out)
{
    const struct ff_json_node *n = &doc->nodes[i];
    ff_buf_reset(&c->text);
    int rc = 0;
    switch (n->type) {
    case FF_JSON_STRING: *out = (struct ff_str){n->v.s, n->len}; return n->len > 0;
    case FF_JSON_NULL: return 0;
    case FF_JSON_TRUE: *out = lit("true"); return 1;
    case FF_JSON_FALSE: *out = lit("false"); return 1;
    case FF_JSON_INT: rc = ff_json_write_int(&c->text, n->v.i); break;
    case FF_JSON_UINT: rc = ff_json_write_uint(&c->text, n->v.u); break;
    case FF_JSON_DOUBLE: rc = ff_field_double_text(&c->text, n->v.d); break;
    default: rc = ff_json_write_node(&c->text, doc, i); break;
    }
    if (rc) return 0;
    *out = (struct ff_str){c->text.data, (uint32_t)c->text.len};
    return 1;
}

/* The node at a dotted path in an object, or FF_JSON_NONE. */
static uint32_t at_path(const struct ff_json_doc *doc, const char *path)
{
    uint32_t node = 0;
    char key[FF_QUERY_NAME_MAX];
    for (const char *p = path; node != FF_JSON_NONE;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (doc->nodes[node].type != FF_JSON_OBJECT) return FF_JSON_NONE;
        memcpy(key, p, n);
        key[n] = '\0';
        node = ff_json_get(doc, node, key);
        if (!dot) break;
        p = dot + 1;
    }
    return node;
}

static int property(struct ff_field_ctx *c, const struct ff_event *ev, const char *path, struct ff_str *out)
{
    if (!c->parsed) {
        c->parsed = 1;
        c->parse_ok = ev->properties.len && !ff_json_parse_copy(c->parser, &c->scratch, ev->properties.p,
                                                                ev->properties.len, &c->doc);
    }
    if (!c->parse_ok) return 0;
    uint32_t node = at_path(&c->doc, path);
    return node != FF_JSON_NONE && node_text(c, &c->doc, node, out);
}

struct trait_lookup {
    struct ff_field_ctx *c;
    const char *path;
    struct ff_str *out;
};

static int trait_in(void *arg, struct ff_str traits)
{
    struct trait_lookup *l = arg;
    struct ff_field_ctx *c = l->c;
    if (ff_json_parse_copy(c->trait_parser, &c->trait_scratch, traits.p, traits.len, &c->trait_doc)) return 0;
    uint32_t node = at_path(&c->trait_doc, l->path);
    return node != FF_JSON_NONE && node_text(c, &c->trait_doc, node, l->out) ? 1 : 0;
}

/* The latest value of a trait the event's person was identified with. */
static int trait(struct ff_field_ctx *c, const struct ff_event *ev, const char *path, struct ff_str *out)
{
    struct trait_lookup l = {c, path, out};
    return c->traits && ff_traits_each(c->traits, ff_query_person(ev), trait_in, &l) == 1;
}

int ff_field_value(struct ff_field_ctx *c, const struct ff_event *ev, const struct ff_field *f, struct ff_str *out)
{
    if (c->ev != ev) {
        ff_field_ctx_reset(c);
        c->ev = ev;
    }
    *out = (struct ff_str){"", 0};
    switch (f->id) {
    case F_EVENT: return some(event_name(ev), out);
    case F_TYPE: return some(lit(ff_event_type_name(ev->type) ? ff_event_type_name(ev->type) : ""), out);
    case F_STRING: return some(*(const struct ff_str *)(const void *)((const char *)ev + f->off), out);
    case F_PROJECT: return some(ev->project.len ? ev->project : lit(FF_DEFAULT_PROJECT), out);
    case F_BOT: return some(lit(ev->bot ? "true" : "false"), out);
    case F_PROPERTY: return property(c, ev, f->prop, out);
    case F_TRAIT: return trait(c, ev, f->prop, out);
    case F_PAGE:
        if (ev->type == FF_EV_SCREEN) return some(ev->name, out);
        if (ev->type != FF_EV_PAGE) return 0;
        break;
    default: break;
    }
    if (!c->derived) {
        c->derived = 1;
        ff_buf_reset(&c->d.arena);
        ff_derive(&c->d, ev, c->spans);
    }
    if (f->id == F_DERIVED + FF_D(FF_C_PAGE_PATH)) return some(ff_derived_path(&c->d, c->spans), out);
    if (f->id == F_PAGE) {
        struct ff_str path = ff_derived_path(&c->d, c->spans);
        return some(path.len ? path : ev->name, out);
    }
    return some(ff_span_str(&c->d, &c->spans[f->id - F_DERIVED]), out);
}

/* ---- filters ---- */

int ff_field_number(struct ff_str s, double *d)
{
    if (!s.len || s.len > 64) return 0;
    char buf[65], *end;
    memcpy(buf, s.p, s.len);
    buf[s.len] = '\0';
    *d = strtod(buf, &end);
    return *end == '\0' && end != buf && isfinite(*d);
}

static int equal(struct ff_str a, struct ff_str b)
{
    double x, y;
    return ff_str_eq(a, b) || (ff_field_number(a, &x) && ff_field_number(b, &y) && x == y);
}

static int contains_ci(struct ff_str hay, struct ff_str needle)
{
    if (needle.len > hay.len) return 0;
    for (size_t i = 0; i + needle.len <= hay.len; i++)
        if (strncasecmp(hay.p + i, needle.p, needle.len) == 0) return 1;
    return 0;
}

/* 1 when v matches any of the filter's values. */
static int any_value(const struct ff_filter *f, struct ff_str v, int (*match)(struct ff_str, struct ff_str))
{
    for (size_t i = 0; i < f->nvalues; i++)
        if (match(v, f->values[i])) return 1;
    return 0;
}

static int passes(struct ff_field_ctx *c, const struct ff_event *ev, const struct ff_filter *f)
{
    struct ff_str v;
    int has = ff_field_value(c, ev, &f->field, &v);
    return ff_filter_match(f, has, v, c->md);
}

int ff_filter_match(const struct ff_filter *f, int has, struct ff_str v, void *match_data)
{
    double d;
    switch (f->op) {
    case FF_OP_EXISTS: return has;
    case FF_OP_NEQ: return !has || !any_value(f, v, equal);
    case FF_OP_EQ:
    case FF_OP_IN: return has && any_value(f, v, equal);
    case FF_OP_CONTAINS: return has && any_value(f, v, contains_ci);
    case FF_OP_REGEX:
        return has && pcre2_match(f->re, (PCRE2_SPTR)v.p, v.len, 0, 0, match_data, NULL) >= 0;
    case FF_OP_GT: return has && ff_field_number(v, &d) && d > f->number;
    case FF_OP_LT: return has && ff_field_number(v, &d) && d < f->number;
    default: return 0;
    }
}

int ff_filters_pass(struct ff_field_ctx *c, const struct ff_event *ev, const struct ff_filter *fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!passes(c, ev, &fs[i])) return 0;
    return 1;
}
