/* store.h - the event store: what every read of events goes through.
 *
 *   WAL writer ──on_durable──> memtable (records in arrival order, readable at once)
 *                                  │ flush: past flush_bytes, or flush_interval after the
 *                                  │ oldest record arrived, or on close
 *                                  v
 *                      parts (one per day, columnar, sorted by person and time)
 *                      + quarantine parts, published in DATA/MANIFEST
 *
 * A flush writes the frozen memtable's parts, fsyncs them, publishes a manifest that lists
 * them and says up to which WAL sequence number the parts hold everything (wal_seq), then
 * lets the WAL delete segments below it (once they are older than the deduplication
 * window). At open, the manifest's parts are loaded, files it does not list are removed (a
 * flush that crashed before publishing), and the WAL's records from wal_seq on are replayed
 * into the memtable: nothing acknowledged is lost and nothing is stored twice. */
#ifndef FF_STORE_H
#define FF_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "event/event.h"
#include "store/manifest.h"
#include "store/sessions.h"

struct ff_store;

struct ff_store_opts {
    const char *dir;            /* the data directory: DATA/parts/, DATA/MANIFEST */
    size_t flush_bytes;         /* memtable size that starts a flush; 0 = 64 MiB */
    int64_t flush_interval_us;  /* longest a record waits in memory before a flush; 0 = 10 s */
    uint32_t block_rows;        /* rows per part block; 0 = FF_PART_BLOCK_ROWS */
    int64_t wal_keep_us;        /* WAL segments younger than this are kept (the dedup window) */
    int read_only;              /* no flush thread, nothing written (the CLI) */
    int manual_flush;           /* no flush thread: only ff_store_flush and close flush (tests) */
    int retention_days;         /* drop whole days older than this many days; 0 = keep everything */
    /* each project's time zone and session timeout (sessions.h); NULL: UTC and 30 minutes */
    void (*session_rules)(void *arg, struct ff_str project, struct ff_session_rules *out);
    void *session_rules_arg;
    void (*session_rules_free)(void *arg); /* the store owns the argument: called at close */
};

/* What the store holds, for /api/stats at start-up. */
struct ff_store_counts {
    uint64_t events[FF_FMT_COUNT], quarantined[FF_FMT_COUNT]; /* ever stored: counters */
    uint64_t held, quarantine_held; /* in the store now: less what erasure and retention removed */
};

/* Opens the store: manifest, parts, orphan clean-up, and the replay of the WAL's records
 * from the manifest's wal_seq on. `err` says what is wrong on failure. */
int ff_store_open(struct ff_store **out, const struct ff_store_opts *o, char *err, size_t errlen);
/* Flushes what is in memory (unless read-only), stops the flush thread, closes. */
void ff_store_close(struct ff_store *s);

/* The WAL's durable hook (see ff_wal_durable_fn): adds the records to the memtable. */
void ff_store_on_durable(void *store, uint64_t first_seq, const char *records, size_t len, const uint32_t *drops,
                         uint32_t ndrop);
/* The WAL's forget hook (ff_wal_opts.on_forget): flushes then delete the keys files of the ids
 * its dedup set no longer remembers. */
void ff_store_on_forget(void *store, int64_t forgotten_before_us);
/* Writes the memtable as parts and publishes them now. 0 or a negative error (what was in
 * memory stays there, and in the WAL). */
int ff_store_flush(struct ff_store *s);
/* Drops the parts of days older than o->retention_days (by event time; quarantine parts by
 * receive time). Returns how many parts went, or a negative error. Run by the merge thread. */
long ff_store_apply_retention(struct ff_store *s, int64_t now_us);
/* GDPR erasure: removes every event whose user id or anonymous id is `id` from the WAL (when
 * one is attached) and from every part, and sets *removed to how many events left the
 * parts. An erased event does not come back after a restart or a merge. */
int ff_store_erase(struct ff_store *s, const char *project, const char *id, size_t len, uint64_t *removed);
/* Lets erasures rewrite the WAL too (the server attaches it once both are open). */
struct ff_wal;
void ff_store_attach_wal(struct ff_store *s, struct ff_wal *w);
/* Counts of what is stored (parts and memtable). */
void ff_store_counts(struct ff_store *s, struct ff_store_counts *c);
/* A copy of the current manifest (ff_manifest_free it). */
int ff_store_manifest(struct ff_store *s, struct ff_manifest *m);
/* The lowest WAL sequence number above every record the store holds (parts and memory):
 * the log must not number a new record below it. */
uint64_t ff_store_next_seq(struct ff_store *s);

/* ---- people (store/identity.h) ---- */
/* Sets ev->person_id to the person the event belongs to now (pointing into tmp). */
int ff_store_person_of(struct ff_store *s, struct ff_event *ev, struct ff_buf *tmp);
/* 1 when the event is the person's whose id (user id, anonymous id or person id) is `id`:
 * its own ids, or where its ids and `id` lead in its project. tmp and tmp2 are scratch. */
int ff_store_is_persons(struct ff_store *s, const struct ff_event *ev, struct ff_str id, struct ff_buf *tmp,
                        struct ff_buf *tmp2);
struct ff_identity;
struct ff_identity *ff_store_identity(struct ff_store *s);

/* ---- reading ---- */
struct ff_read_filter {
    int kind;                 /* FF_REC_EVENT or FF_REC_QUARANTINE */
    const char *event;        /* event name to match, or NULL */
    size_t event_len;
    int64_t from_us, to_us;   /* event time range [from, to), FF_TIME_NONE for open ends */
    size_t limit;
    size_t max_bytes;         /* most the kept matches may hold; 0 = FF_READ_BUDGET_BYTES */
    const char *project;      /* only this project's (event.h ff_in_project), or NULL for all */
};

/* Most an answer keeps in memory by default: past it the oldest kept matches give way, so a
 * listing of many large events answers with fewer of them instead of exhausting memory. */
#define FF_READ_BUDGET_BYTES ((size_t)256 << 20)

/* ---- exporting ---- */
struct ff_scan_filter {
    const char *person;       /* events whose user id, anonymous id or person id is this, or NULL */
    size_t person_len;
    int64_t from_us, to_us;   /* event time range [from, to), FF_TIME_NONE for open ends */
    const char *project;      /* only this project's, or NULL for all */
    /* FF_NCOLS flags (schema.h) of the columns the visitor reads, or NULL for all: parts decode
     * only those (time, seq, project and the ids always), and the others read as empty;
     * person_id is resolved only when it is asked for. Events in memory come whole. */
    const uint8_t *columns;
    uint8_t type;             /* only events of this type (event.h), or 0 for all: looked at
                               * before the person is resolved, which costs an identity look-up */
    /* NULL, or the time before which no event is wanted any more, raised by the visitor as it
     * goes (the newest N): memory is read first, then parts from the one with the latest
     * event back, until a part's are all before it, and a block's likewise are skipped. */
    const int64_t *newest_bound;
};
/* Calls `visit` for every stored event that matches (parts by day, then what is in memory;
 * within a part by person and time). A non-zero return from `visit` stops the scan and is
 * returned. Strings are valid during the call only. */
typedef int (*ff_event_visit_fn)(void *arg, const struct ff_event *ev);
int ff_store_scan(struct ff_store *s, const struct ff_scan_filter *f, ff_event_visit_fn visit, void *arg);

/* A consistent view of what is stored, for readers that go part by part on several threads
 * (queries): the event parts whose time range meets [from, to) (by day, then arrival), then
 * what is in memory. Parts stay readable while the view is open, even if a merge or an
 * erasure replaces them. ff_store_scan is one thread's walk over a view. */
struct ff_store_view;
int ff_store_view_open(struct ff_store *s, int64_t from_us, int64_t to_us, struct ff_store_view **out);
void ff_store_view_close(struct ff_store_view *v);
size_t ff_store_view_nparts(const struct ff_store_view *v);
struct ff_part;
const struct ff_part *ff_store_view_part(const struct ff_store_view *v, size_t i);
/* Block `block` of part i of the view as runs of rows of one person each, their persons
 * resolved as they are now (person_runs.h), copied into *runs (grown as needed, *cap its
 * room); *n runs. 0, -ENOMEM, or FF_ECORRUPT with err saying where. Any thread. */
struct ff_person_run;
int ff_store_view_person_runs(struct ff_store_view *v, size_t i, uint32_t block, struct ff_person_run **runs,
                              uint32_t *cap, uint32_t *n, char *err, size_t errlen);
/* As ff_store_scan, over part i of the view only, or over what was in memory. Any thread. */
int ff_store_view_scan_part(struct ff_store_view *v, size_t i, const struct ff_scan_filter *f, ff_event_visit_fn visit,
                            void *arg);
int ff_store_view_scan_memory(struct ff_store_view *v, const struct ff_scan_filter *f, ff_event_visit_fn visit,
                              void *arg);

/* ---- sessions (sessions.h), summed from their events ---- */
struct ff_session_filter {
    int64_t from_us, to_us;   /* sessions that start in [from, to), FF_TIME_NONE for open ends */
    const char *person;       /* one person's (any of their ids), or NULL */
    size_t person_len;
    const char *project;      /* only this project's, or NULL for all */
    int bots;                 /* 1: bots' sessions too (left out by default, as from every insight) */
    size_t limit;             /* the newest this many */
    uint64_t deadline_ns;     /* ff_mono_ns() past which the read stops with -ETIMEDOUT; 0: none */
};
/* Most sessions one answer sums: past it, FF_ETOOBIG (ask for a shorter range). */
#define FF_SESSIONS_READ_MAX ((size_t)4 << 20)
/* One session summed from its events. Attributes come from its first pageview (else its first
 * event): where the visit came from; the exit page from its last pageview. */
enum ff_session_attr {
    FF_SA_PERSON, FF_SA_DEVICE, FF_SA_ENTRY, FF_SA_EXIT, FF_SA_REFERRER, FF_SA_SOURCE, FF_SA_CHANNEL,
    FF_SA_UTM_SOURCE, FF_SA_UTM_MEDIUM, FF_SA_UTM_CAMPAIGN, FF_SA_BROWSER, FF_SA_OS, FF_SA_DEVICE_TYPE,
    FF_SA_COUNTRY, FF_SA_PROJECT, FF_SA_COUNT
};
struct ff_session_summary {
    char id[FF_SESSION_ID_LEN];
    int64_t start, end;               /* first and last event times */
    uint32_t events, pageviews, tracks;
    int bot;
    struct ff_str attr[FF_SA_COUNT];  /* empty when unknown; valid until the list is freed */
};
struct ff_session_list {
    struct ff_session_summary *v;     /* latest start first */
    size_t n;
    struct ff_buf text;               /* what attr points into */
};
/* 1 when a bounce: one pageview and no track call (Plausible's and GA's bounce). */
static inline int ff_session_bounce(const struct ff_session_summary *s) { return s->pageviews == 1 && s->tracks == 0; }
/* The sessions that start in [f->from, f->to), bots' left out unless f->bots, f->person's
 * only when it is set; with `match`, only those with an event it accepts (its other events
 * still count). f->limit is not applied. FF_ETOOBIG past FF_SESSIONS_READ_MAX sessions. */
int ff_store_sessions(struct ff_store *s, const struct ff_session_filter *f,
                      int (*match)(void *arg, const struct ff_event *ev), void *arg, struct ff_session_list *out);
void ff_session_list_free(struct ff_session_list *l);
/* Appends up to f->limit sessions, latest start first, as JSON objects separated by `sep`:
 * {id, start, end, durationSeconds, events, pageviews, bounce, bot, personId, deviceId,
 *  entryPage, exitPage, referrer, source, channel, utmSource, utmMedium, utmCampaign,
 *  browser, os, deviceType, country, project}; empty attributes are left out. Bounce: one
 * pageview and no track call. Sets *count. */
int ff_store_sessions_json(struct ff_store *s, const struct ff_session_filter *f, const char *sep, struct ff_buf *out,
                           size_t *count);

/* Appends up to f->limit matching events (or quarantined items) as JSON objects, newest
 * (latest to arrive) first, separated by `sep`; sets *count. 0 or a negative error. */
int ff_store_read_json(struct ff_store *s, const struct ff_read_filter *f, const char *sep, struct ff_buf *out,
                       size_t *count);

#endif
