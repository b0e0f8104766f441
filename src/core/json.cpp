// json.cpp - the C++ side of json.h: simdjson's DOM parser flattened into ff_json_nodes.
// This is the project's only C++ file; everything it exposes is the C API in json.h.
#include "json.h"

#include <errno.h>

#include <new>
#include <simdjson.h>
#include <vector>

#include "errors.h"

struct ff_json_parser {
    simdjson::dom::parser parser;
    std::vector<ff_json_node> nodes;
};

extern "C" struct ff_json_parser *ff_json_parser_new(void)
{
    return new (std::nothrow) ff_json_parser();
}

extern "C" void ff_json_parser_free(struct ff_json_parser *p) { delete p; }

static void flatten(std::vector<ff_json_node> &out, simdjson::dom::element e, std::string_view key,
                    bool has_key)
{
    using simdjson::dom::element_type;
    size_t self = out.size();
    out.emplace_back();
    ff_json_node n{};
    if (has_key) {
        n.key = key.data();
        n.key_len = (uint32_t)key.size();
    }
    switch (e.type()) {
    case element_type::ARRAY: {
        n.type = FF_JSON_ARRAY;
        simdjson::dom::array arr;
        if (e.get_array().get(arr)) break; // cannot fail: the type was checked
        for (simdjson::dom::element c : arr) {
            flatten(out, c, {}, false);
            n.len++;
        }
        break;
    }
    case element_type::OBJECT: {
        n.type = FF_JSON_OBJECT;
        simdjson::dom::object obj;
        if (e.get_object().get(obj)) break;
        for (simdjson::dom::key_value_pair kv : obj) {
            flatten(out, kv.value, kv.key, true);
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
}

extern "C" int ff_json_parse(struct ff_json_parser *p, const char *buf, size_t len,
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
        flatten(p->nodes, root, {}, false);
        doc->nodes = p->nodes.data();
        doc->count = (uint32_t)p->nodes.size();
        return 0;
    } catch (const std::bad_alloc &) {
        if (err) *err = "out of memory";
        return -ENOMEM;
    }
}
