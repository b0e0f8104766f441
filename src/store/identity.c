/* identity.c - the identity map (see identity.h).
 *
 * One table of links, (project, id) → id, with open addressing over XXH3 hashes; the strings
 * live in an arena that only grows (a forgotten link is marked dead, and dropped at the next
 * save's load). One read-write lock: reads (resolution for queries) share it.
 *
 * DATA/IDENTITY:  "FFIDEN01"  count:u64  count × (key:str value:str)  xxh3:u64
 * (key = project '\0' id; str = varint length + bytes). A save appends the links made since
 * the last one to DATA/IDENTITY.journal (statefile.h), the same records, and rewrites the file
 * once the journal would outgrow it or a link was forgotten (an erasure) or revived: the map
 * only grows, and a save had written all of it at each flush. */
#include "store/identity.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/binread.h"
#include "core/errors.h"
#include "core/fileio.h"
#include "core/statefile.h"

#define MAX_HOPS 8
#define ID_LOG 4096

static const char magic[8] = {'F', 'F', 'I', 'D', 'E', 'N', '0', '1'};

struct link {
    uint64_t hash;
    uint64_t key_off, val_off; /* into the arena */
    uint32_t key_len, val_len;
    int dead;
};

/* Readers (a query's threads resolve a person for every run of rows, several threads at
 * once) each take a lock of their own among ID_LOCKS, so that a look-up does not pass one
 * lock's cache line from core to core: a tenth of a distinct-persons query went to that.
 * A writer (identify, alias, erasure, all rare next to reads) takes every one, in order.
 * A thread keeps the slot it first drew; threads that share one share a lock, no more. */
#define ID_LOCKS 8
struct id_lock {
    pthread_rwlock_t rw;
    char pad[128 - sizeof(pthread_rwlock_t)]; /* no two locks on one cache line */
};

struct ff_identity {
    struct id_lock locks[ID_LOCKS];
    struct ff_buf arena;
    struct link *links;
    size_t nlinks, cap_links, live;
    uint32_t *slots;           /* link index + 1; 0 = empty */
    size_t nslots;             /* a power of two */
    /* a Bloom filter of the links' hashes (two bits each, 8 bits a slot): most ids a query
     * resolves have no link, and this says so from the cache instead of the slots */
    uint64_t *bloom;
    uint64_t changes, saved;   /* changes made, and how many of them the file has */
    /* what is on disk: links [0, saved_links) (those since are the next journal chunk), the
     * file's checksum and size, its journal's end; forgettings and revivals since the last
     * rewrite, which only a rewrite records */
    size_t saved_links;
    struct ff_statefile_disk disk;
    uint64_t unjournaled;
    pthread_mutex_t save_mu;   /* one save at a time (a flush's, an erasure's): each appends where the last ended */
    /* Who gained a link lately, for readers that keep resolutions (ff_identity_linked_since):
     * a ring of the XXH3 hashes of the last ID_LOG ids linked, how many ever were, and a
     * count of forgettings, after which any resolution may have changed. */
    uint64_t linked[ID_LOG];
    uint64_t nlinked, forgets;
};

static pthread_rwlock_t *reader_lock(struct ff_identity *id)
{
    static atomic_uint next;
    static _Thread_local int slot = -1;
    if (slot < 0) slot = (int)(atomic_fetch_add(&next, 1) % ID_LOCKS);
    return &id->locks[slot].rw;
}

static void read_lock(struct ff_identity *id) { pthread_rwlock_rdlock(reader_lock(id)); }
static void read_unlock(struct ff_identity *id) { pthread_rwlock_unlock(reader_lock(id)); }

static void write_lock(struct ff_identity *id)
{
    for (int i = 0; i < ID_LOCKS; i++) pthread_rwlock_wrlock(&id->locks[i].rw);
}

static void write_unlock(struct ff_identity *id)
{
    for (int i = ID_LOCKS; i-- > 0;) pthread_rwlock_unlock(&id->locks[i].rw);
}

static struct ff_str key_of(const struct ff_identity *id, const struct link *l)
{
    return (struct ff_str){id->arena.data + l->key_off, l->key_len};
}

static struct ff_str val_of(const struct ff_identity *id, const struct link *l)
{
    return (struct ff_str){id->arena.data + l->val_off, l->val_len};
}

/* key = project '\0' id, built in buf[] (cap bytes); 0, or -1 when too long. */
static int make_key(char *buf, size_t cap, struct ff_str project, struct ff_str who, struct ff_str *out)
{
    if ((size_t)project.len + 1 + who.len > cap) return -1;
    if (project.len) memcpy(buf, project.p, project.len);
    buf[project.len] = '\0';
    if (who.len) memcpy(buf + project.len + 1, who.p, who.len);
    *out = (struct ff_str){buf, project.len + 1 + who.len};
    return 0;
}

static void bloom_add(uint64_t *bloom, size_t nslots, uint64_t h)
{
    size_t mask = nslots * 8 - 1, a = (h >> 20) & mask, b = (h >> 42) & mask;
    bloom[a >> 6] |= 1ULL << (a & 63);
    bloom[b >> 6] |= 1ULL << (b & 63);
}

static int bloom_may_have(const struct ff_identity *id, uint64_t h)
{
    size_t mask = id->nslots * 8 - 1, a = (h >> 20) & mask, b = (h >> 42) & mask;
    return (id->bloom[a >> 6] >> (a & 63) & 1) && (id->bloom[b >> 6] >> (b & 63) & 1);
}

static struct link *find(const struct ff_identity *id, struct ff_str key, uint64_t h)
{
    if (!id->nslots || !bloom_may_have(id, h)) return NULL;
    for (size_t i = h & (id->nslots - 1);; i = (i + 1) & (id->nslots - 1)) {
        uint32_t s = id->slots[i];
        if (!s) return NULL;
        struct link *l = &id->links[s - 1];
        if (l->hash == h && ff_str_eq(key_of(id, l), key)) return l;
    }
}

static int grow_slots(struct ff_identity *id)
{
    size_t n = id->nslots ? id->nslots * 2 : 1024;
    uint32_t *s = ff_calloc(n, sizeof *s);
    uint64_t *bloom = ff_calloc(n / 8, sizeof *bloom);
    if (!s || !bloom) {
        ff_free(s), ff_free(bloom);
        return -ENOMEM;
    }
    for (size_t k = 0; k < id->nlinks; k++) {
        size_t i = id->links[k].hash & (n - 1);
        while (s[i]) i = (i + 1) & (n - 1);
        s[i] = (uint32_t)k + 1;
        bloom_add(bloom, n, id->links[k].hash);
    }
    ff_free(id->slots);
    ff_free(id->bloom);
    id->slots = s;
    id->bloom = bloom;
    id->nslots = n;
    return 0;
}

/* Adds key → val (the key not there, or dead: then it lives again with val). */
static int put(struct ff_identity *id, struct ff_str key, struct ff_str val)
{
    uint64_t h = XXH3_64bits(key.p, key.len);
    struct link *l = find(id, key, h);
    size_t ko = 0, vo = id->arena.len;
    if (!l) {
        if ((id->nlinks + 1) * 2 > id->nslots && grow_slots(id)) return -ENOMEM;
        if (id->nlinks == id->cap_links) {
            size_t nc = id->cap_links ? id->cap_links * 2 : 1024;
            struct link *nl = ff_realloc(id->links, nc * sizeof *nl);
            if (!nl) return -ENOMEM;
            id->links = nl;
            id->cap_links = nc;
        }
        ko = id->arena.len;
        if (ff_buf_append(&id->arena, key.p, key.len)) return -ENOMEM;
        vo = id->arena.len;
    }
    if (ff_buf_append(&id->arena, val.p, val.len)) return -ENOMEM;
    if (!l) {
        l = &id->links[id->nlinks++];
        *l = (struct link){h, ko, vo, key.len, 0, 0};
        size_t i = h & (id->nslots - 1);
        while (id->slots[i]) i = (i + 1) & (id->nslots - 1);
        id->slots[i] = (uint32_t)id->nlinks;
        bloom_add(id->bloom, id->nslots, h);
    }
    else if (l->dead) id->unjournaled++; /* revived: an earlier index than the journal reads */
    l->val_off = vo;
    l->val_len = val.len;
    l->dead = 0;
    id->live++;
    id->changes++;
    return 0;
}

/* Where `who` leads in `project`, into out[cap]; its length. */
static struct ff_str resolve(const struct ff_identity *id, struct ff_str project, struct ff_str who, char *kbuf,
                             size_t kcap)
{
    struct ff_str cur = who, key;
    for (int hop = 0; hop < MAX_HOPS; hop++) {
        if (make_key(kbuf, kcap, project, cur, &key)) break;
        struct link *l = find(id, key, XXH3_64bits(key.p, key.len));
        if (!l || l->dead) break;
        cur = val_of(id, l);
    }
    return cur;
}

/* Links, from the file or a journal's chunk. */
static int read_links(void *arg, struct ff_reader *r, uint64_t count)
{
    struct ff_identity *id = arg;
    int rc = 0;
    for (uint64_t i = 0; !rc && i < count; i++) {
        struct ff_str k, v;
        if (ff_rd_str(r, &k) || ff_rd_str(r, &v) || !memchr(k.p, '\0', k.len)) rc = FF_ECORRUPT;
        else rc = put(id, k, v);
    }
    return rc;
}

int ff_identity_open(const char *dir, struct ff_identity **out, char *err, size_t errlen)
{
    struct ff_identity *id = ff_calloc(1, sizeof *id);
    if (!id) return -ENOMEM;
    for (int i = 0; i < ID_LOCKS; i++) pthread_rwlock_init(&id->locks[i].rw, NULL);
    pthread_mutex_init(&id->save_mu, NULL);
    ff_buf_init(&id->arena, (size_t)1 << 40);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/IDENTITY", dir);
    struct ff_buf b;
    ff_buf_init(&b, (size_t)1 << 40);
    int rc = ff_statefile_read(path, magic, &b, read_links, read_links, id, &id->disk);
    if (rc == 1) rc = 0;
    else if (rc == 0 || rc == FF_ECORRUPT) {
        id->saved_links = id->nlinks;
        id->unjournaled = 0;
        if (rc == FF_ECORRUPT)
            snprintf(err, errlen, "%s: damaged (checksum or layout); move it aside and the map is rebuilt from the events "
                                  "the WAL still holds", path);
        id->saved = id->changes;
    } else {
        snprintf(err, errlen, "%s: %s", path, ff_strerror(rc));
    }
    ff_buf_free(&b);
    if (rc) {
        ff_identity_free(id);
        return rc;
    }
    *out = id;
    return 0;
}

void ff_identity_free(struct ff_identity *id)
{
    if (!id) return;
    ff_buf_free(&id->arena);
    ff_free(id->links);
    ff_free(id->slots);
    ff_free(id->bloom);
    for (int i = 0; i < ID_LOCKS; i++) pthread_rwlock_destroy(&id->locks[i].rw);
    pthread_mutex_destroy(&id->save_mu);
    ff_free(id);
}

/* Links from → to unless `from` is linked already (the first link wins) or `to` leads back
 * to `from` (no cycles). */
static int link_ids(struct ff_identity *id, struct ff_str project, struct ff_str from, struct ff_str to,
                    struct ff_identity_memo *memo)
{
    if (!from.len || !to.len || ff_str_eq(from, to)) return 0;
    char kbuf[1024];
    struct ff_str key;
    if (make_key(kbuf, sizeof kbuf, project, from, &key)) return 0; /* ids this long are not linked */
    /* the same id as the observer's last, known then, and no link forgotten since */
    if (memo && memo->len == key.len && memcmp(memo->key, key.p, key.len) == 0 &&
        memo->forgets == __atomic_load_n(&id->forgets, __ATOMIC_ACQUIRE))
        return 0;
    uint64_t h = XXH3_64bits(key.p, key.len);
    read_lock(id);
    struct link *l = find(id, key, h);
    int known = l && !l->dead;
    uint64_t forgets = id->forgets;
    read_unlock(id);
    if (known) {
        if (memo && key.len <= sizeof memo->key) {
            memcpy(memo->key, key.p, key.len);
            memo->len = key.len;
            memo->forgets = forgets;
        }
        return 0;
    }
    write_lock(id);
    int rc = 0;
    l = find(id, key, h);
    if (!l || l->dead) {
        char kb2[1024];
        struct ff_str end = resolve(id, project, to, kb2, sizeof kb2);
        if (!ff_str_eq(end, from) && !(rc = put(id, key, to)))
            id->linked[id->nlinked++ % ID_LOG] = XXH3_64bits(from.p, from.len); /* where `from` led, it leads no more */
    }
    write_unlock(id);
    return rc;
}

int ff_identity_observe(struct ff_identity *id, const struct ff_event *ev, struct ff_identity_memo *memo)
{
    if (ev->type == FF_EV_ALIAS) return link_ids(id, ev->project, ev->previous_id, ev->user_id, memo);
    if (ev->user_id.len && ev->anonymous_id.len)
        return link_ids(id, ev->project, ev->anonymous_id, ev->user_id, memo);
    return 0;
}

int ff_identity_leads(struct ff_identity *id, struct ff_str project, struct ff_str who, struct ff_buf *out)
{
    char kbuf[1024];
    read_lock(id);
    struct ff_str p = resolve(id, project, who, kbuf, sizeof kbuf);
    int rc = p.p == who.p ? 0 : ff_buf_append(out, p.p, p.len) ? -ENOMEM : 1;
    read_unlock(id);
    return rc;
}

int ff_identity_person(struct ff_identity *id, struct ff_str project, struct ff_str user_id,
                       struct ff_str anonymous_id, struct ff_buf *out)
{
    ff_buf_reset(out);
    struct ff_str who = user_id.len ? user_id : anonymous_id;
    int rc = who.len ? ff_identity_leads(id, project, who, out) : 0;
    if (rc == 0) rc = who.len ? ff_buf_append(out, who.p, who.len) : ff_buf_reserve(out, 0);
    return rc < 0 ? rc : 0;
}

static int in_project(struct ff_str key, const char *project)
{
    if (!project) return 1;
    size_t n = strlen(project);
    return key.len > n && key.p[n] == '\0' && memcmp(key.p, project, n) == 0;
}

/* Whether live link l of `project` (NULL: any) is `person`'s: its id is the person, or
 * leads there (with `self`); sets *who to its id. */
static int is_persons_link(const struct ff_identity *id, const struct link *l, const char *project,
                           struct ff_str person, int self, struct ff_str *who)
{
    struct ff_str key = key_of(id, l);
    if (l->dead || !in_project(key, project)) return 0;
    const char *nul = memchr(key.p, '\0', key.len);
    struct ff_str proj = {key.p, (uint32_t)(nul - key.p)};
    *who = (struct ff_str){nul + 1, (uint32_t)(key.len - proj.len - 1)};
    char kbuf[1024];
    return (self && ff_str_eq(*who, person)) || ff_str_eq(resolve(id, proj, *who, kbuf, sizeof kbuf), person);
}

int ff_identity_ids_of(struct ff_identity *id, const char *project, struct ff_str person,
                       int (*visit)(void *arg, struct ff_str id), void *arg)
{
    int rc = visit(arg, person);
    read_lock(id);
    struct ff_str who;
    for (size_t i = 0; !rc && i < id->nlinks; i++)
        if (is_persons_link(id, &id->links[i], project, person, 0, &who)) rc = visit(arg, who);
    read_unlock(id);
    return rc;
}

int ff_identity_forget(struct ff_identity *id, const char *project, struct ff_str person)
{
    write_lock(id);
    /* first find them all (resolution needs the links), then cut */
    size_t n = 0;
    uint8_t *mark = ff_calloc(id->nlinks + 1, 1);
    int rc = mark ? 0 : -ENOMEM;
    struct ff_str who;
    for (size_t i = 0; !rc && i < id->nlinks; i++)
        if (is_persons_link(id, &id->links[i], project, person, 1, &who)) mark[i] = 1, n++;
    for (size_t i = 0; !rc && i < id->nlinks; i++)
        if (mark[i]) id->links[i].dead = 1, id->live--;
    if (n) id->changes++, id->unjournaled++, __atomic_store_n(&id->forgets, id->forgets + 1, __ATOMIC_RELEASE); /* memos read it unlocked */
    ff_free(mark);
    write_unlock(id);
    return rc;
}

void ff_identity_mark_now(struct ff_identity *id, struct ff_identity_mark *m)
{
    read_lock(id);
    *m = (struct ff_identity_mark){id->nlinked, id->forgets};
    read_unlock(id);
}

int ff_identity_linked_since(struct ff_identity *id, const struct ff_identity_mark *since, uint64_t *out, int cap,
                             struct ff_identity_mark *now)
{
    read_lock(id);
    *now = (struct ff_identity_mark){id->nlinked, id->forgets};
    uint64_t n = id->nlinked - since->linked;
    int rc = -1;
    if (id->forgets == since->forgets && n <= (uint64_t)cap && n <= ID_LOG) {
        for (uint64_t k = 0; k < n; k++) out[k] = id->linked[(since->linked + k) % ID_LOG];
        rc = (int)n;
    }
    read_unlock(id);
    return rc;
}

static int put_link(struct ff_buf *b, const struct ff_identity *id, const struct link *l)
{
    int rc = ff_buf_put_varint(b, l->key_len);
    if (!rc) rc = ff_buf_append(b, id->arena.data + l->key_off, l->key_len);
    if (!rc) rc = ff_buf_put_varint(b, l->val_len);
    if (!rc) rc = ff_buf_append(b, id->arena.data + l->val_off, l->val_len);
    return rc;
}

int ff_identity_save(struct ff_identity *id, const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/IDENTITY", dir);
    pthread_mutex_lock(&id->save_mu);
    read_lock(id);
    uint64_t changes = id->changes;
    if (changes == id->saved) {
        read_unlock(id);
        pthread_mutex_unlock(&id->save_mu);
        return 0;
    }
    struct ff_buf b;
    ff_buf_init(&b, (size_t)1 << 40);
    const size_t nlinks = id->nlinks;
    const uint64_t unjournaled = id->unjournaled;
    int rc = 0, journal = !unjournaled && id->disk.bytes;
    uint64_t n = 0;
    if (journal) { /* the links made since, if they are few enough */
        for (size_t i = id->saved_links; !rc && i < nlinks; i++)
            if (!id->links[i].dead) rc = put_link(&b, id, &id->links[i]), n++;
        journal = !rc && id->disk.journal_end + b.len <= id->disk.bytes;
    }
    if (!rc && !journal) {
        rc = ff_statefile_begin(&b, magic, id->live);
        for (size_t i = 0; !rc && i < nlinks; i++)
            if (!id->links[i].dead) rc = put_link(&b, id, &id->links[i]);
    }
    struct ff_statefile_disk disk = id->disk;
    read_unlock(id);
    if (!rc) rc = ff_statefile_save(path, &b, journal, n, &disk);
    if (rc >= 0) { /* links added while this was written are for the next save */
        write_lock(id);
        id->saved = changes;
        id->saved_links = nlinks;
        id->disk = disk;
        if (!journal) id->unjournaled -= unjournaled;
        write_unlock(id);
    }
    pthread_mutex_unlock(&id->save_mu);
    ff_buf_free(&b);
    return rc < 0 ? rc : 0;
}

size_t ff_identity_count(struct ff_identity *id)
{
    read_lock(id);
    size_t n = id->live;
    read_unlock(id);
    return n;
}
