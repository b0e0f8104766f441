/* schema.h - the columns of an event part, and turning events into parts and back.
 *
 * Every part holds the events of one UTC day, sorted by person key (person id, else user id,
 * else anonymous id), then event time, then receive time, then arrival order (seq): one person's events
 * are contiguous and in time order, which is what funnels, retention, paths and sessions
 * read. The columns are Segment's event fields, fields derived from its context and
 * properties (page, UTM), and columns that enrichment fills (browser … bot) and identity
 * resolution fills (person_id, session_id); until then they are empty and cost next to
 * nothing on disk. */
#ifndef FF_SCHEMA_H
#define FF_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"
#include "store/part.h"

enum ff_col {
    FF_C_TIME, FF_C_RECEIVED, FF_C_ORIGINAL_TIME, FF_C_SENT_AT, FF_C_TYPE, FF_C_FORMAT,
    FF_C_EVENT, FF_C_NAME, FF_C_MESSAGE_ID, FF_C_ANONYMOUS_ID, FF_C_USER_ID, FF_C_PERSON_ID,
    FF_C_SESSION_ID, FF_C_GROUP_ID, FF_C_PREVIOUS_ID, FF_C_WRITE_KEY,
    FF_C_PAGE_URL, FF_C_PAGE_PATH, FF_C_PAGE_TITLE, FF_C_PAGE_REFERRER,
    FF_C_UTM_SOURCE, FF_C_UTM_MEDIUM, FF_C_UTM_CAMPAIGN, FF_C_UTM_TERM, FF_C_UTM_CONTENT,
    FF_C_SOURCE, FF_C_CHANNEL, FF_C_CLICK_ID,
    FF_C_BROWSER, FF_C_BROWSER_VERSION, FF_C_OS, FF_C_OS_VERSION, FF_C_DEVICE_TYPE, FF_C_COUNTRY, FF_C_REGION,
    FF_C_CITY, FF_C_BOT, FF_C_PROJECT,
    FF_C_PROPERTIES, FF_C_TRAITS, FF_C_CONTEXT, FF_C_SEQ,
    FF_NCOLS
};

struct ff_col_def {
    const char *name;
    uint8_t type;   /* enum ff_col_type */
    uint8_t codec;  /* enum ff_codec: lz4 for what every query scans, zstd for the rest */
};
extern const struct ff_col_def ff_schema[FF_NCOLS];
/* The codec of a part's column c: the schema's, and for a typed property column (c past the
 * schema) lz4, since filters, breakdowns and sums scan it: a price column of 20 M rows
 * decompresses in 39 ms against zstd's 107, for 2.5 times the bytes. */
static inline uint8_t ff_schema_codec(uint32_t c) { return c < FF_NCOLS ? ff_schema[c].codec : FF_CODEC_LZ4; }

/* Days since 1970-01-01 (UTC) of a time in µs. */
int32_t ff_day_of(int64_t time_us);

/* A part's dictionaries stay in memory while it is open, so a string column is written as
 * a dictionary only within these limits (a flush's and a merge's alike). */
#define FF_DICT_MAX_VALUES 65536
#define FF_DICT_MAX_BYTES ((size_t)8 << 20)

/* The file name of event part `id` of `day`: "DDDDDDDD-IIIIII.part". */
void ff_part_name(char out[64], int32_t day, uint64_t id);

/* The parts written for a set of events: one per day. */
struct ff_built_part {
    char name[64];              /* file name inside the parts directory */
    struct ff_part_info info;
    uint64_t bytes;             /* file size */
    uint64_t min_seq, max_seq;  /* arrival order range of its rows */
};

/* Sorts `n` events and writes one part per day into `dir`, named from *next_id (advanced).
 * Every part is fsync'd and renamed into place; the caller publishes them. On error, the
 * parts already written are removed. *out (ff_free) gets the list. */
int ff_parts_build(const char *dir, uint64_t *next_id, const struct ff_event *evs, size_t n, uint32_t block_rows,
                   struct ff_built_part **out, size_t *nout);

/* Deletes built parts that will not be published (a failed flush, merge or erasure). */
void ff_parts_remove(const char *dir, const struct ff_built_part *parts, size_t n);

/* One block of a part, decoded into events. */
struct ff_part_events {
    uint32_t n;
    struct ff_colvec cols[FF_NCOLS];
    int part_col[FF_NCOLS];     /* the part's column index of each schema column, or -1 */
    /* typed property columns ("p.KEY", props.h), joined back into each row's properties */
    int nprops;
    int prop_col[16];
    struct ff_str prop_name[16];
    struct ff_colvec prop_vec[16];
    struct ff_buf props_json;   /* the rows' rebuilt properties, back to back */
    uint32_t *props_off;        /* row i: props_json + props_off[i], props_off[i + 1] - props_off[i] bytes */
};
/* Schema column c's index in part p when the part has it with the schema's type, else -1. */
int ff_part_schema_col(const struct ff_part *p, int c);
void ff_part_events_init(struct ff_part_events *pe, const struct ff_part *p);
void ff_part_events_free(struct ff_part_events *pe);
/* Decodes block `b` (only the columns a read of whole events needs). */
int ff_part_events_load(struct ff_part_events *pe, const struct ff_part *p, uint32_t b, char *err, size_t errlen);
/* Row i's type, as ff_part_events_get gives it (a scan for one type looks before it builds). */
static inline uint8_t ff_part_events_type(const struct ff_part_events *pe, uint32_t i)
{
    const struct ff_colvec *t = &pe->cols[FF_C_TYPE];
    return t->u8 && i < t->n ? t->u8[i] : FF_EV_TRACK;
}
/* Row i of the loaded block as an event; strings point into pe. */
void ff_part_events_get(const struct ff_part_events *pe, uint32_t i, struct ff_event *ev);

#endif
