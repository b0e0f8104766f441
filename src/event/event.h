/* event.h - footfall's event model: one behaviour event in Segment's shape, as every wire
 * format is normalised to it, and the records that carry events (and quarantined input)
 * in the write-ahead log. */
#ifndef FF_EVENT_H
#define FF_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum ff_event_type {
    FF_EV_TRACK = 1, FF_EV_PAGE, FF_EV_SCREEN, FF_EV_IDENTIFY, FF_EV_GROUP, FF_EV_ALIAS,
    FF_EV_TYPE_MAX = FF_EV_ALIAS
};

/* The wire format an event arrived in: kept with the event and counted per format. */
/* (Records and the manifest store these numbers: new formats go at the end.) */
enum ff_format { FF_FMT_SEED, FF_FMT_SEGMENT, FF_FMT_PIXEL, FF_FMT_IMPORT, FF_FMT_LOG, FF_FMT_COUNT };

struct ff_event {
    uint8_t type;   /* enum ff_event_type */
    uint8_t format; /* enum ff_format */
    int64_t timestamp_us;          /* when it happened, corrected for client clock skew */
    int64_t original_timestamp_us; /* the client's own timestamp, or FF_TIME_NONE */
    int64_t sent_at_us;            /* when the client sent it, or FF_TIME_NONE */
    int64_t received_at_us;        /* when footfall received it */
    uint64_t seq;                  /* its place in arrival order (the WAL's sequence number); not
                                    * part of the record encoding, set by whoever reads it back */
    struct ff_str event;       /* track: the event name */
    struct ff_str name;        /* page/screen: the page or screen name */
    struct ff_str message_id;
    struct ff_str anonymous_id;
    struct ff_str user_id;
    struct ff_str group_id;
    struct ff_str previous_id;
    struct ff_str write_key;
    struct ff_str properties;  /* compact JSON object text, or empty for {} */
    struct ff_str traits;      /* compact JSON object text, or empty for {} */
    struct ff_str context;     /* compact JSON object text, or empty for {} */
    /* Enrichment, filled at ingest (enrich/enrich.h); empty when unknown. The strings of an
     * event being built point into the enricher's per-event buffer. */
    struct ff_str browser, browser_version, os, os_version, device_type, country, region, city;
    uint8_t bot;               /* a crawler, headless browser or HTTP library */
    struct ff_str project;     /* the project (project/projects.h) whose key sent it; empty in
                                * events stored before projects existed, which belong to the
                                * project "default" */
    struct ff_str person_id;   /* the person it belongs to (store/identity.h): set by the store
                                * when it writes parts and answers reads; not in the record */
    struct ff_str session_id;  /* its session (store/sessions.h): set by the store as the event
                                * becomes durable; not in the record */
};

/* Input that could not be accepted, kept with the reason so nothing vanishes. */
struct ff_quarantined {
    uint8_t format;
    struct ff_str project;     /* as in ff_event */
    int64_t received_at_us;
    int32_t index;             /* item index in a batch or 1-based line of an import; -1 */
    struct ff_str reason;
    struct ff_str field;
    struct ff_str raw;         /* the item's bytes as received */
};

/* The project of events stored before projects existed (their project field is empty). */
#define FF_DEFAULT_PROJECT "default"
/* 1 when a stored project field belongs to `project` (NULL: any project). */
int ff_in_project(struct ff_str stored, const char *project);

const char *ff_event_type_name(int type);  /* "track", …; NULL when out of range */
int ff_event_type_parse(const char *s, size_t len); /* 0 when unknown */
const char *ff_format_name(int format);    /* "seed", "segment", "pixel", "import", "log" */

/* ---- Records: the binary encoding kept in the write-ahead log ----
 *
 *   record      := kind:u8  body_len:u32le  body
 *   kind 1 (event):
 *     body      := type:u8 format:u8 flags:u16le
 *                  timestamp:i64le original_timestamp:i64le sent_at:i64le received_at:i64le
 *                  11 × string (event, name, message_id, anonymous_id, user_id, group_id,
 *                               previous_id, write_key, properties, traits, context)
 *                  [enrichment]                      when flags bit 0 is set
 *     enrichment := bot:u8 count:u8 count × string  (browser, browser_version, os, os_version,
 *                  device_type, country, region, city, project, in this order; a reader takes those it
 *                  knows and skips the rest, so later versions can add more). Flags other than bit 0 are zero;
 *                  records written before enrichment existed have flags 0. A one-way upgrade: a
 *                  binary from before the block reads enriched records as corrupt, and new
 *                  fields must come as more strings of the block, not as new flags.
 *   kind 2 (quarantined input):
 *     body      := format:u8 qflags:u8 received_at:i64le index:i32le
 *                  3 × string (reason, field, raw)  [project:string when qflags bit 0 is set]
 *   string      := length:varint (LEB128) bytes
 *
 * Times are µs since the Unix epoch; INT64_MIN means absent. Decoding checks every length
 * against the bytes that remain, so a corrupt record is an error, never a read past the end. */
enum ff_record_kind { FF_REC_EVENT = 1, FF_REC_QUARANTINE = 2 };

struct ff_record {
    uint8_t kind;
    union {
        struct ff_event ev;
        struct ff_quarantined q;
    } u;
};

int ff_event_encode(struct ff_buf *out, const struct ff_event *ev);
/* 1 when any enrichment field is set (the record then carries its enrichment block). */
int ff_event_enriched(const struct ff_event *ev);
/* 1 when any field from the user agent or the IP address is set. */
int ff_event_has_ua_geo(const struct ff_event *ev);
int ff_quarantine_encode(struct ff_buf *out, const struct ff_quarantined *q);

/* Decodes the record at *off in buf[0..len); advances *off past it. Strings in *rec point
 * into buf. Returns 0, or FF_ECORRUPT with *off untouched and *rec not to be used. */
int ff_record_decode(const char *buf, size_t len, size_t *off, struct ff_record *rec);

/* Appends an event as a JSON object in Segment's shape plus receivedAt, format, writeKey. */
int ff_event_write_json(struct ff_buf *out, const struct ff_event *ev);
/* CSV (RFC 4180, CRLF line ends): the header line, and one event as a row. */
int ff_event_csv_header(struct ff_buf *out);
int ff_event_write_csv(struct ff_buf *out, const struct ff_event *ev);
/* Appends a quarantined item as a JSON object, its raw bytes cut at this many. */
#define FF_QUARANTINE_RAW_SHOWN (64u << 10)
int ff_quarantine_write_json(struct ff_buf *out, const struct ff_quarantined *q);

#endif
