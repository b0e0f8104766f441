/* sessions.c - assigning events to sessions (see sessions.h).
 *
 * One table of devices, (project, device id) → its open sessions, with open addressing over
 * XXH3 hashes; keys live in an arena. Devices that sent nothing for two days are dropped
 * at a save, which rebuilds the table without them. One mutex: the WAL writer assigns, the
 * flush thread saves, an erasure forgets.
 *
 * DATA/SESSIONS:  "FFSESS01"  count:u64  count × device  xxh3:u64
 *   device  := key:str touched:i64 n:u8 n × (start:i64 end:i64 id:u64 campaign:u64 day:i64)
 * (key = project '\0' device id; str = varint length + bytes; integers little-endian).
 * A save writes the devices that changed since the last one to DATA/SESSIONS.journal
 * (statefile.h), the same device records, a later one replacing an earlier one of its key,
 * and rewrites the file (dropping idle devices) once the journal would outgrow it: a save
 * had written every device of the last two days at each flush. */
#include "store/sessions.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/binread.h"
#include "core/errors.h"
#include "core/fileio.h"
#include "core/statefile.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "store/derive.h"

#define MAX_SESSIONS 16                       /* per device: the latest-ending ones */
#define IDLE_DROP_US (2LL * 86400 * 1000000)  /* a device this quiet is forgotten */
#define KEY_MAX 1024

static const char magic[8] = {'F', 'F', 'S', 'E', 'S', 'S', '0', '1'};

struct sess {
    int64_t start, end; /* its first and last event times */
    uint64_t id;
    uint64_t campaign;  /* hash of (utm_source, utm_medium, utm_campaign); 0: none */
    int64_t day;        /* local day of its first event in the project's zone */
};

struct device {
    uint64_t hash, key_off;
    uint32_t key_len, n, cap;
    uint8_t dirty;      /* changed since the last save */
    int64_t touched;    /* receive time of the last event assigned */
    struct sess *s;     /* most devices hold one or two */
};

struct ff_sessions {
    pthread_mutex_t mu;
    struct ff_buf arena;
    struct device *dev;
    size_t ndev, cap;
    uint32_t *slots;      /* device index + 1; 0 = empty */
    size_t nslots;        /* a power of two */
    uint64_t changes, saved;
    struct ff_statefile_disk disk; /* what DATA/SESSIONS and its journal hold */
    pthread_mutex_t save_mu;       /* one save at a time (a flush's, an erasure's): each appends where the last ended */
    int rewrite;          /* a failed save lost track of what changed: the next one rewrites */
    struct ff_deriver deriver; /* reads an event's campaign */
    int deriver_ready;
};

static struct ff_str key_of(const struct ff_sessions *ss, const struct device *d)
{
    return (struct ff_str){ss->arena.data + d->key_off, d->key_len};
}

static struct device *find(const struct ff_sessions *ss, struct ff_str key, uint64_t h)
{
    if (!ss->nslots) return NULL;
    for (size_t i = h & (ss->nslots - 1);; i = (i + 1) & (ss->nslots - 1)) {
        uint32_t s = ss->slots[i];
        if (!s) return NULL;
        struct device *d = &ss->dev[s - 1];
        if (d->hash == h && ff_str_eq(key_of(ss, d), key)) return d;
    }
}

static int rehash(struct ff_sessions *ss, size_t nslots)
{
    uint32_t *s = ff_calloc(nslots, sizeof *s);
    if (!s) return -ENOMEM;
    for (size_t k = 0; k < ss->ndev; k++) {
        size_t i = ss->dev[k].hash & (nslots - 1);
        while (s[i]) i = (i + 1) & (nslots - 1);
        s[i] = (uint32_t)k + 1;
    }
    ff_free(ss->slots);
    ss->slots = s;
    ss->nslots = nslots;
    return 0;
}

static struct device *add(struct ff_sessions *ss, struct ff_str key, uint64_t h)
{
    if ((ss->ndev + 1) * 2 > ss->nslots && rehash(ss, ss->nslots ? ss->nslots * 2 : 1024)) return NULL;
    if (ss->ndev == ss->cap) {
        size_t nc = ss->cap ? ss->cap * 2 : 1024;
        struct device *nd = ff_realloc(ss->dev, nc * sizeof *nd);
        if (!nd) return NULL;
        ss->dev = nd;
        ss->cap = nc;
    }
    if (ss->ndev >= UINT32_MAX - 1) return NULL;
    uint64_t off = ss->arena.len;
    if (ff_buf_append(&ss->arena, key.p, key.len)) return NULL;
    struct device *d = &ss->dev[ss->ndev++];
    memset(d, 0, sizeof *d);
    d->hash = h;
    d->key_off = off;
    d->key_len = key.len;
    size_t i = h & (ss->nslots - 1);
    while (ss->slots[i]) i = (i + 1) & (ss->nslots - 1);
    ss->slots[i] = (uint32_t)ss->ndev;
    return d;
}

/* key = project '\0' device id, in buf[KEY_MAX]; 0, or -1 when too long to keep. */
static int make_key(char *buf, struct ff_str project, struct ff_str who, struct ff_str *out)
{
    if ((size_t)project.len + 1 + who.len > KEY_MAX) return -1;
    if (project.len) memcpy(buf, project.p, project.len);
    buf[project.len] = '\0';
    memcpy(buf + project.len + 1, who.p, who.len);
    *out = (struct ff_str){buf, project.len + 1 + who.len};
    return 0;
}

/* ---- the campaign of an event ---- */

/* 1 when text holds "utm_" or "campaign": each word has an 'm' third, so one memchr walk
 * over the 'm's finds both (two memmem passes over every event cost 3% of the collector). */
static int mentions_campaign(struct ff_str text)
{
    if (!text.len) return 0;
    const char *p = text.p, *end = text.p + text.len;
    while (p < end && (p = memchr(p, 'm', (size_t)(end - p)))) {
        size_t before = (size_t)(p - text.p), after = (size_t)(end - p);
        if (before >= 2 && after >= 2 && p[-2] == 'u' && p[-1] == 't' && p[1] == '_') return 1;
        if (before >= 2 && after >= 6 && p[-2] == 'c' && p[-1] == 'a' && memcmp(p + 1, "paign", 5) == 0) return 1;
        p++;
    }
    return 0;
}

/* 0 when the event names no campaign; else a hash of its source, medium and name. Most
 * events carry no UTM tags: a look for the words first spares them the JSON (properties
 * only of a page call: the page URL is where the deriver reads tags from them). */
static uint64_t campaign_of(struct ff_sessions *ss, const struct ff_event *ev)
{
    if (!mentions_campaign(ev->context) && !(ev->type == FF_EV_PAGE && mentions_campaign(ev->properties))) return 0;
    if (!ss->deriver_ready) {
        if (ff_deriver_init(&ss->deriver)) return 0;
        ss->deriver_ready = 1;
    }
    ff_buf_reset(&ss->deriver.arena);
    struct ff_span sp[FF_NDERIVED];
    ff_derive(&ss->deriver, ev, sp);
    static const int cols[] = {FF_C_UTM_SOURCE, FF_C_UTM_MEDIUM, FF_C_UTM_CAMPAIGN};
    /* source '\0' medium '\0' name, after the values in the arena */
    size_t at = ss->deriver.arena.len;
    int any = 0;
    for (int k = 0; k < 3; k++) {
        struct ff_span v = sp[FF_D(cols[k])];
        any |= v.len > 0;
        if (ff_buf_reserve(&ss->deriver.arena, v.len + 1)) return 0;
        ff_buf_append(&ss->deriver.arena, ss->deriver.arena.data + v.off, v.len);
        ff_buf_putc(&ss->deriver.arena, '\0');
    }
    if (!any) return 0;
    uint64_t h = XXH3_64bits(ss->deriver.arena.data + at, ss->deriver.arena.len - at);
    return h ? h : 1;
}

/* ---- assigning ---- */

static uint64_t session_id(struct ff_str key, int64_t start)
{
    unsigned char buf[KEY_MAX + 8];
    memcpy(buf, key.p, key.len);
    for (int i = 0; i < 8; i++) buf[key.len + i] = (unsigned char)((uint64_t)start >> (8 * i));
    return XXH3_64bits(buf, key.len + 8);
}

static void hex16(uint64_t v, char out[FF_SESSION_ID_LEN])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = FF_SESSION_ID_LEN - 1; i >= 0; i--, v >>= 4) out[i] = digits[v & 15];
}

/* May an event `gap` µs away from s (campaign c, local day `day`) join it? (Gaps are
 * unsigned: the distance between any two times fits.) */
static int joinable(const struct sess *s, uint64_t gap, int64_t timeout, uint64_t c, int64_t day)
{
    return gap <= (uint64_t)timeout && s->day == day && (c == 0 || c == s->campaign);
}

/* The session an event at t joins (its span widened to hold t) or starts. */
static int place(struct device *d, struct ff_str key, int64_t t, uint64_t c, int64_t day, int64_t timeout,
                 struct sess *out)
{
    struct sess *prev = NULL, *next = NULL;
    for (uint32_t i = 0; i < d->n; i++) {
        struct sess *s = &d->s[i];
        if (s->start <= t && t <= s->end) { /* inside its span: already counted there */
            *out = *s;
            return 0;
        }
        if (s->end < t && (!prev || s->end > prev->end)) prev = s;
        if (s->start > t && (!next || s->start < next->start)) next = s;
    }
    if (prev && joinable(prev, (uint64_t)t - (uint64_t)prev->end, timeout, c, day)) {
        prev->end = t;
        *out = *prev;
        return 0;
    }
    if (next && joinable(next, (uint64_t)next->start - (uint64_t)t, timeout, c, day)) {
        next->start = t; /* a late event: the session began earlier than thought; its id stays */
        *out = *next;
        return 0;
    }
    *out = (struct sess){t, t, session_id(key, t), c, day};
    if (d->n == MAX_SESSIONS) { /* the one that ended first makes room */
        struct sess *first = &d->s[0];
        for (uint32_t i = 1; i < d->n; i++)
            if (d->s[i].end < first->end) first = &d->s[i];
        if (first->end < t) *first = *out; /* else older than all it holds: not kept */
        return 0;
    }
    if (d->n == d->cap) {
        uint32_t nc = d->cap ? d->cap * 2 : 1;
        struct sess *ns = ff_realloc(d->s, nc * sizeof *ns);
        if (!ns) return -ENOMEM;
        d->s = ns;
        d->cap = nc;
    }
    d->s[d->n++] = *out;
    return 0;
}

int ff_sessions_assign(struct ff_sessions *ss, const struct ff_event *ev, const struct ff_session_rules *rules,
                       char id[FF_SESSION_ID_LEN])
{
    if (ev->type != FF_EV_TRACK && ev->type != FF_EV_PAGE && ev->type != FF_EV_SCREEN) return 0;
    struct ff_str who = ev->anonymous_id.len ? ev->anonymous_id : ev->user_id, key;
    char kbuf[KEY_MAX];
    if (!who.len || make_key(kbuf, ev->project, who, &key)) return 0;
    int64_t t = ev->timestamp_us != FF_TIME_NONE ? ev->timestamp_us : ev->received_at_us;
    int64_t timeout = rules && rules->timeout_us > 0 ? rules->timeout_us : FF_SESSION_TIMEOUT_DEFAULT_US;
    int64_t day = ff_tz_local_day(rules ? rules->tz : NULL, t);
    pthread_mutex_lock(&ss->mu);
    uint64_t c = campaign_of(ss, ev);
    uint64_t h = XXH3_64bits(key.p, key.len);
    struct device *d = find(ss, key, h);
    if (!d && !(d = add(ss, key, h))) {
        pthread_mutex_unlock(&ss->mu);
        return -ENOMEM;
    }
    struct sess s;
    int rc = place(d, key, t, c, day, timeout, &s);
    if (ev->received_at_us > d->touched) d->touched = ev->received_at_us;
    hex16(s.id, id);
    d->dirty = 1;
    ss->changes++;
    pthread_mutex_unlock(&ss->mu);
    return rc ? rc : 1;
}

/* ---- forgetting, dropping and saving ---- */

void ff_sessions_forget(struct ff_sessions *ss, const char *project, struct ff_str who)
{
    pthread_mutex_lock(&ss->mu);
    for (size_t i = 0; i < ss->ndev; i++) {
        struct device *d = &ss->dev[i];
        struct ff_str k = key_of(ss, d);
        const char *nul = memchr(k.p, '\0', k.len);
        size_t plen = (size_t)(nul - k.p);
        struct ff_str id = {nul + 1, k.len - (uint32_t)plen - 1};
        int in_project = !project || (plen == strlen(project) && memcmp(k.p, project, plen) == 0) ||
                         (plen == 0 && strcmp(project, FF_DEFAULT_PROJECT) == 0);
        if (in_project && ff_str_eq(id, who) && d->n) {
            d->n = 0;
            d->touched = INT64_MIN; /* dropped at the next rewrite */
            d->dirty = 1;
            ss->changes++;
        }
    }
    pthread_mutex_unlock(&ss->mu);
}

/* Rebuilds the table without devices that went quiet before `cutoff`: always (`all`), or
 * once they are an eighth of it (rebuilding for every few that cross the line would cost a
 * copy of every key at each save). Under mu. */
static int drop_idle(struct ff_sessions *ss, int64_t cutoff, int all)
{
    size_t keep = 0;
    for (size_t i = 0; i < ss->ndev; i++) keep += ss->dev[i].touched >= cutoff && ss->dev[i].n;
    if (keep == ss->ndev || (!all && (ss->ndev - keep) * 8 < ss->ndev)) return 0;
    struct ff_buf arena;
    ff_buf_init(&arena, ss->arena.max);
    size_t j = 0;
    for (size_t i = 0; i < ss->ndev; i++) {
        struct device d = ss->dev[i];
        if (d.touched < cutoff || !d.n) {
            ff_free(d.s);
            continue;
        }
        uint64_t off = arena.len;
        if (ff_buf_append(&arena, ss->arena.data + d.key_off, d.key_len)) {
            ff_buf_free(&arena);
            return -ENOMEM;
        }
        d.key_off = off;
        ss->dev[j++] = d;
    }
    ff_buf_free(&ss->arena);
    ss->arena = arena;
    ss->ndev = j;
    size_t nslots = 1024;
    while (nslots < ss->ndev * 2) nslots *= 2;
    return rehash(ss, nslots);
}

static int put_device(struct ff_buf *b, const struct ff_sessions *ss, const struct device *d)
{
    int rc = ff_buf_put_varint(b, d->key_len);
    if (!rc) rc = ff_buf_append(b, ss->arena.data + d->key_off, d->key_len);
    if (!rc) rc = ff_buf_put_u64(b, (uint64_t)d->touched);
    if (!rc) rc = ff_buf_put_u8(b, (uint8_t)d->n);
    for (uint32_t i = 0; !rc && i < d->n; i++) {
        const struct sess *s = &d->s[i];
        rc = ff_buf_put_u64(b, (uint64_t)s->start);
        if (!rc) rc = ff_buf_put_u64(b, (uint64_t)s->end);
        if (!rc) rc = ff_buf_put_u64(b, s->id);
        if (!rc) rc = ff_buf_put_u64(b, s->campaign);
        if (!rc) rc = ff_buf_put_u64(b, (uint64_t)s->day);
    }
    return rc;
}

int ff_sessions_save(struct ff_sessions *ss, const char *dir, int64_t now_us)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/SESSIONS", dir);
    pthread_mutex_lock(&ss->save_mu);
    pthread_mutex_lock(&ss->mu);
    uint64_t changes = ss->changes;
    if (changes == ss->saved) {
        pthread_mutex_unlock(&ss->mu);
        pthread_mutex_unlock(&ss->save_mu);
        return 0;
    }
    struct ff_buf b;
    ff_buf_init(&b, (size_t)1 << 40);
    /* devices gone quiet leave memory first, so that no chunk brings them back */
    int rc = drop_idle(ss, now_us - IDLE_DROP_US, 0), journal = 0;
    uint64_t n = 0;
    if (!rc && !ss->rewrite && ss->disk.bytes) { /* the devices that changed, if they are few enough */
        for (size_t i = 0; !rc && i < ss->ndev; i++)
            if (ss->dev[i].dirty) rc = put_device(&b, ss, &ss->dev[i]), n++;
        journal = !rc && ss->disk.journal_end + b.len <= ss->disk.bytes;
    }
    if (!rc && !journal) { /* the whole file again, without any device gone quiet */
        rc = drop_idle(ss, now_us - IDLE_DROP_US, 1);
        if (!rc) rc = ff_statefile_begin(&b, magic, ss->ndev);
        for (size_t i = 0; !rc && i < ss->ndev; i++) rc = put_device(&b, ss, &ss->dev[i]);
    }
    if (!rc)
        for (size_t i = 0; i < ss->ndev; i++) ss->dev[i].dirty = 0;
    struct ff_statefile_disk disk = ss->disk;
    pthread_mutex_unlock(&ss->mu);
    if (!rc) rc = ff_statefile_save(path, &b, journal, n, &disk);
    pthread_mutex_lock(&ss->mu);
    if (rc >= 0) { /* what was assigned while this was written is for the next save */
        ss->saved = changes;
        ss->disk = disk;
        ss->rewrite = 0;
    } else {
        ss->rewrite = 1; /* the devices written are no longer marked */
    }
    pthread_mutex_unlock(&ss->mu);
    pthread_mutex_unlock(&ss->save_mu);
    ff_buf_free(&b);
    return rc < 0 ? rc : 0;
}

/* ---- loading ---- */

/* A device record; a later one of the same key (from the journal, `replace`) takes the
 * earlier one's place. */
static int read_device(struct ff_sessions *ss, struct ff_reader *r, int replace)
{
    struct ff_str key;
    uint64_t touched;
    uint8_t n;
    if (ff_rd_str(r, &key) || !key.len || key.len > KEY_MAX || !memchr(key.p, '\0', key.len) ||
        ff_rd_u64(r, &touched) || ff_rd_u8(r, &n) || n > MAX_SESSIONS)
        return FF_ECORRUPT;
    uint64_t h = XXH3_64bits(key.p, key.len);
    struct device *d = find(ss, key, h);
    if (d && !replace) return FF_ECORRUPT; /* each device once */
    if (!d && !(d = add(ss, key, h))) return -ENOMEM;
    d->touched = (int64_t)touched;
    d->n = 0;
    if (n > d->cap) {
        struct sess *ns = ff_realloc(d->s, n * sizeof *ns);
        if (!ns) return -ENOMEM;
        d->s = ns;
        d->cap = n;
    }
    for (uint8_t i = 0; i < n; i++) {
        uint64_t v[5];
        for (int k = 0; k < 5; k++)
            if (ff_rd_u64(r, &v[k])) return FF_ECORRUPT;
        if ((int64_t)v[0] > (int64_t)v[1]) return FF_ECORRUPT;
        d->s[i] = (struct sess){(int64_t)v[0], (int64_t)v[1], v[2], v[3], (int64_t)v[4]};
    }
    d->n = n;
    return 0;
}

/* The file's devices, each once; then the journal's, each replacing what was read before. */
static int read_file(void *arg, struct ff_reader *r, uint64_t count)
{
    int rc = 0;
    for (uint64_t i = 0; !rc && i < count; i++) rc = read_device(arg, r, 0);
    return rc;
}

static int read_chunk(void *arg, struct ff_reader *r, uint64_t count)
{
    int rc = 0;
    for (uint64_t i = 0; !rc && i < count; i++) rc = read_device(arg, r, 1);
    return rc;
}

int ff_sessions_open(const char *dir, struct ff_sessions **out, char *err, size_t errlen)
{
    struct ff_sessions *ss = ff_calloc(1, sizeof *ss);
    if (!ss) return -ENOMEM;
    pthread_mutex_init(&ss->mu, NULL);
    pthread_mutex_init(&ss->save_mu, NULL);
    ff_buf_init(&ss->arena, (size_t)1 << 40);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/SESSIONS", dir);
    struct ff_buf b;
    ff_buf_init(&b, (size_t)1 << 40);
    int rc = ff_statefile_read(path, magic, &b, read_file, read_chunk, ss, &ss->disk);
    if (rc == 1) {
        rc = 0;
    } else if (rc == 0 || rc == FF_ECORRUPT) {
        if (rc == FF_ECORRUPT)
            snprintf(err, errlen, "%s: damaged (checksum or layout); move it aside and sessions start afresh (events "
                                  "already stored keep their session ids)", path);
    } else {
        snprintf(err, errlen, "%s: %s", path, ff_strerror(rc));
    }
    ff_buf_free(&b);
    if (rc) {
        ff_sessions_free(ss);
        return rc;
    }
    *out = ss;
    return 0;
}

void ff_sessions_free(struct ff_sessions *ss)
{
    if (!ss) return;
    if (ss->deriver_ready) ff_deriver_free(&ss->deriver);
    for (size_t i = 0; i < ss->ndev; i++) ff_free(ss->dev[i].s);
    ff_buf_free(&ss->arena);
    ff_free(ss->dev);
    ff_free(ss->slots);
    pthread_mutex_destroy(&ss->mu);
    pthread_mutex_destroy(&ss->save_mu);
    ff_free(ss);
}

size_t ff_sessions_devices(struct ff_sessions *ss)
{
    pthread_mutex_lock(&ss->mu);
    size_t n = ss->ndev;
    pthread_mutex_unlock(&ss->mu);
    return n;
}
