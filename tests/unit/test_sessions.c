/* test_sessions.c - server-side sessions (store/sessions.h): the three rules that end a
 * session (inactivity, with its timeout configurable; midnight in the project's zone, read
 * from tzdata; a new campaign, from UTM tags in the page URL or context.campaign), late
 * events, which calls belong to sessions, device keys, and DATA/SESSIONS across a reopen
 * giving the same ids, its journal of what changed between rewrites included. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "testutil.h"

#include "core/timeutil.h"
#include "core/tz.h"
#include "event/event.h"
#include "store/sessions.h"

#define MIN_US (60LL * 1000000)
/* 2026-11-29T10:00:00Z */
#define T0 (1795946400LL * 1000000)

struct fx {
    char dir[128];
    struct ff_sessions *ss;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char err[512];
    if (test_mkdtemp(f->dir, sizeof f->dir, "sessions") || ff_sessions_open(f->dir, &f->ss, err, sizeof err)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ff_sessions_free(f->ss);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static struct ff_str S(const char *s) { return (struct ff_str){s, (uint32_t)strlen(s)}; }

static struct ff_event ev_at(int type, const char *anon, const char *user, int64_t t)
{
    struct ff_event e;
    memset(&e, 0, sizeof e);
    e.type = (uint8_t)type;
    e.anonymous_id = S(anon ? anon : "");
    e.user_id = S(user ? user : "");
    e.timestamp_us = t;
    e.received_at_us = t;
    e.project = S("shop");
    return e;
}

/* The session id of an event, as a string ("" when it has none). */
static char ids[64][FF_SESSION_ID_LEN + 1];
static int nid;
static const char *assign(struct ff_sessions *ss, const struct ff_event *e, const struct ff_session_rules *r)
{
    char *id = ids[nid++ % 64];
    memset(id, 0, FF_SESSION_ID_LEN + 1);
    int rc = ff_sessions_assign(ss, e, r, id);
    assert_true(rc == 0 || rc == 1);
    if (rc == 1) assert_int_equal(strlen(id), FF_SESSION_ID_LEN);
    else assert_int_equal(strlen(id), 0);
    return id;
}

static const char *page(struct ff_sessions *ss, const char *anon, int64_t t, const char *url,
                        const struct ff_session_rules *r)
{
    struct ff_event e = ev_at(FF_EV_PAGE, anon, NULL, t);
    char props[256];
    snprintf(props, sizeof props, "{\"url\":\"%s\"}", url);
    e.properties = S(props);
    return assign(ss, &e, r);
}

static void test_inactivity_ends_a_session(void **state)
{
    struct fx *f = *state;
    const char *a = page(f->ss, "a", T0, "https://x.test/", NULL);
    assert_string_equal(page(f->ss, "a", T0 + 10 * MIN_US, "https://x.test/b", NULL), a);
    assert_string_equal(page(f->ss, "a", T0 + 39 * MIN_US, "https://x.test/c", NULL), a); /* 29 minutes on */
    const char *b = page(f->ss, "a", T0 + 70 * MIN_US, "https://x.test/d", NULL);     /* 31 minutes on */
    assert_string_not_equal(b, a);
    assert_string_equal(page(f->ss, "a", T0 + 99 * MIN_US + 59 * 1000000, "https://x.test/e", NULL), b);
    /* another device at the same times has sessions of its own */
    assert_string_not_equal(page(f->ss, "z", T0, "https://x.test/", NULL), a);
}

static void test_timeout_is_configurable(void **state)
{
    struct fx *f = *state;
    struct ff_session_rules r = {NULL, 5 * MIN_US};
    const char *a = page(f->ss, "a", T0, "https://x.test/", &r);
    assert_string_equal(page(f->ss, "a", T0 + 4 * MIN_US, "https://x.test/", &r), a);
    assert_string_not_equal(page(f->ss, "a", T0 + 10 * MIN_US, "https://x.test/", &r), a);
}

static void test_midnight_in_the_project_zone(void **state)
{
    struct fx *f = *state;
    struct ff_tz *ny;
    assert_int_equal(ff_tz_load("America/New_York", &ny), 0);
    struct ff_session_rules r = {ny, 0};
    /* 2026-11-30 04:50Z and 05:10Z: 23:50 and 00:10 in New York (EST) */
    int64_t t = T0 + 18 * 60 * MIN_US + 50 * MIN_US;
    const char *a = page(f->ss, "ny", t, "https://x.test/", &r);
    assert_string_not_equal(page(f->ss, "ny", t + 20 * MIN_US, "https://x.test/", &r), a);
    /* in UTC the same two moments are one visit */
    const char *u = page(f->ss, "utc", t, "https://x.test/", NULL);
    assert_string_equal(page(f->ss, "utc", t + 20 * MIN_US, "https://x.test/", NULL), u);
    /* and UTC midnight is nothing special in New York (18:50 and 19:10) */
    int64_t m = T0 + 13 * 60 * MIN_US + 50 * MIN_US; /* 23:50Z */
    const char *n = page(f->ss, "ny2", m, "https://x.test/", &r);
    assert_string_equal(page(f->ss, "ny2", m + 20 * MIN_US, "https://x.test/", &r), n);
    assert_string_not_equal(page(f->ss, "utc2", m + 20 * MIN_US, "https://x.test/", NULL),
                            page(f->ss, "utc2", m, "https://x.test/", NULL));
    ff_tz_free(ny);
}

static void test_a_new_campaign_starts_a_session(void **state)
{
    struct fx *f = *state;
    const char *a = page(f->ss, "c", T0, "https://x.test/?utm_source=news&utm_campaign=spring", NULL);
    /* pages and tracks without tags carry the visit on */
    assert_string_equal(page(f->ss, "c", T0 + 2 * MIN_US, "https://x.test/p", NULL), a);
    struct ff_event e = ev_at(FF_EV_TRACK, "c", NULL, T0 + 3 * MIN_US);
    e.event = S("Added");
    assert_string_equal(assign(f->ss, &e, NULL), a);
    /* the same campaign again (a reload of the landing page) too */
    assert_string_equal(page(f->ss, "c", T0 + 4 * MIN_US, "https://x.test/?utm_source=news&utm_campaign=spring", NULL), a);
    /* another campaign five minutes later: a new session */
    const char *b = page(f->ss, "c", T0 + 5 * MIN_US, "https://x.test/?utm_source=news&utm_campaign=summer", NULL);
    assert_string_not_equal(b, a);
    /* context.campaign (Segment's) counts as well: same source, medium and name as b */
    e = ev_at(FF_EV_TRACK, "c", NULL, T0 + 6 * MIN_US);
    e.context = S("{\"campaign\":{\"source\":\"news\",\"name\":\"summer\"}}");
    assert_string_equal(assign(f->ss, &e, NULL), b);
    e.context = S("{\"campaign\":{\"source\":\"ads\",\"name\":\"summer\"}}");
    e.timestamp_us += MIN_US;
    const char *c = assign(f->ss, &e, NULL);
    assert_string_not_equal(c, b);
    assert_string_not_equal(c, a);
    /* a visit that began untagged is split by its first tagged arrival */
    const char *d = page(f->ss, "d", T0, "https://x.test/", NULL);
    assert_string_not_equal(page(f->ss, "d", T0 + MIN_US, "https://x.test/?utm_medium=email", NULL), d);
}

static void test_late_events(void **state)
{
    struct fx *f = *state;
    const char *s = page(f->ss, "l", T0, "https://x.test/", NULL);
    assert_string_equal(page(f->ss, "l", T0 + 20 * MIN_US, "https://x.test/", NULL), s);
    assert_string_equal(page(f->ss, "l", T0 + 10 * MIN_US, "https://x.test/", NULL), s); /* inside its span */
    assert_string_equal(page(f->ss, "l", T0 - 15 * MIN_US, "https://x.test/", NULL), s); /* just before it */
    assert_string_equal(page(f->ss, "l", T0 - 40 * MIN_US, "https://x.test/", NULL), s); /* before that, 25 min */
    const char *early = page(f->ss, "l", T0 - 120 * MIN_US, "https://x.test/", NULL);     /* a visit of its own */
    assert_string_not_equal(early, s);
    /* a later event between the two, near enough to the early one only, joins it */
    assert_string_equal(page(f->ss, "l", T0 - 100 * MIN_US, "https://x.test/", NULL), early);
}

static void test_which_calls_have_sessions(void **state)
{
    struct fx *f = *state;
    struct ff_event e = ev_at(FF_EV_IDENTIFY, "i", "u1", T0);
    assert_string_equal(assign(f->ss, &e, NULL), "");
    e.type = FF_EV_ALIAS;
    assert_string_equal(assign(f->ss, &e, NULL), "");
    e.type = FF_EV_GROUP;
    assert_string_equal(assign(f->ss, &e, NULL), "");
    e = ev_at(FF_EV_TRACK, NULL, NULL, T0); /* no one */
    assert_string_equal(assign(f->ss, &e, NULL), "");
    /* a server's event with only a userId is that user's session */
    e = ev_at(FF_EV_TRACK, NULL, "u1", T0);
    const char *u = assign(f->ss, &e, NULL);
    assert_int_equal(strlen(u), FF_SESSION_ID_LEN);
    e = ev_at(FF_EV_SCREEN, NULL, "u1", T0 + MIN_US);
    assert_string_equal(assign(f->ss, &e, NULL), u);
    /* logging in mid-visit: the device's anonymousId keeps the session */
    const char *a = page(f->ss, "dev", T0, "https://x.test/", NULL);
    e = ev_at(FF_EV_TRACK, "dev", "u2", T0 + 2 * MIN_US);
    assert_string_equal(assign(f->ss, &e, NULL), a);
    /* the same device id in another project is another device */
    e = ev_at(FF_EV_PAGE, "dev", NULL, T0 + 3 * MIN_US);
    e.project = S("blog");
    assert_string_not_equal(assign(f->ss, &e, NULL), a);
}

static void test_reopen_gives_the_same_ids(void **state)
{
    struct fx *f = *state;
    const char *a = page(f->ss, "r", T0, "https://x.test/", NULL);
    const char *b = page(f->ss, "r", T0 + 60 * MIN_US, "https://x.test/", NULL);
    char a0[32], b0[32];
    snprintf(a0, sizeof a0, "%s", a);
    snprintf(b0, sizeof b0, "%s", b);
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + 61 * MIN_US), 0);
    ff_sessions_free(f->ss);
    char err[512];
    assert_int_equal(ff_sessions_open(f->dir, &f->ss, err, sizeof err), 0);
    assert_int_equal(ff_sessions_devices(f->ss), 1);
    /* events assigned before the save get their ids again (a WAL replay) */
    assert_string_equal(page(f->ss, "r", T0, "https://x.test/", NULL), a0);
    assert_string_equal(page(f->ss, "r", T0 + 60 * MIN_US, "https://x.test/", NULL), b0);
    /* and the open session goes on */
    assert_string_equal(page(f->ss, "r", T0 + 80 * MIN_US, "https://x.test/", NULL), b0);
    /* a damaged file is refused with a message, not misread */
    char path[256];
    snprintf(path, sizeof path, "%s/SESSIONS", f->dir);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 12, SEEK_SET);
    fputc('X', fp);
    fclose(fp);
    struct ff_sessions *bad = NULL;
    assert_int_not_equal(ff_sessions_open(f->dir, &bad, err, sizeof err), 0);
    assert_non_null(strstr(err, "damaged"));
}

static void test_forget_and_idle_devices(void **state)
{
    struct fx *f = *state;
    const char *a = page(f->ss, "gone", T0, "https://x.test/", NULL);
    char a0[32];
    snprintf(a0, sizeof a0, "%s", a);
    page(f->ss, "stays", T0, "https://x.test/", NULL);
    ff_sessions_forget(f->ss, "shop", S("gone"));
    /* its open session is gone: a moment later starts another */
    assert_string_not_equal(page(f->ss, "gone", T0 + MIN_US, "https://x.test/", NULL), a0);
    ff_sessions_forget(f->ss, "other-project", S("stays"));
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + MIN_US), 0);
    assert_int_equal(ff_sessions_devices(f->ss), 2);
    /* two quiet days later nothing is held */
    page(f->ss, "fresh", T0 + 3 * 24 * 60 * MIN_US, "https://x.test/", NULL);
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + 3 * 24 * 60 * MIN_US), 0);
    assert_int_equal(ff_sessions_devices(f->ss), 1);
}


static long size_of(const struct fx *f, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

static void reopen(struct fx *f)
{
    ff_sessions_free(f->ss);
    char err[512];
    f->ss = NULL;
    assert_int_equal(ff_sessions_open(f->dir, &f->ss, err, sizeof err), 0);
}

static void many_devices(struct fx *f, int n, int64_t t)
{
    char anon[32];
    for (int i = 0; i < n; i++) {
        snprintf(anon, sizeof anon, "d%d", i);
        page(f->ss, anon, t, "https://x.test/", NULL);
    }
}

/* A save writes the devices that changed since the last one to SESSIONS.journal, not every
 * device again; a reopen reads the file, then the journal, a device's later record winning;
 * once the journal would outgrow the file, the file is rewritten and the journal goes. */
static void test_saves_journal_what_changed(void **state)
{
    struct fx *f = *state;
    many_devices(f, 2000, T0);
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + MIN_US), 0);
    const long whole = size_of(f, "SESSIONS");
    assert_true(whole > 2000 * 40);
    assert_int_equal(size_of(f, "SESSIONS.journal"), -1);
    /* one device starts a session, then goes on in it: two small chunks, the file as it was */
    char x0[32];
    snprintf(x0, sizeof x0, "%s", page(f->ss, "d7", T0 + 90 * MIN_US, "https://x.test/", NULL));
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + 91 * MIN_US), 0);
    const long j1 = size_of(f, "SESSIONS.journal");
    assert_true(j1 > 0 && j1 < 300);
    assert_string_equal(page(f->ss, "d7", T0 + 100 * MIN_US, "https://x.test/", NULL), x0);
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + 101 * MIN_US), 0);
    assert_true(size_of(f, "SESSIONS.journal") > j1 && size_of(f, "SESSIONS.journal") < 2 * j1 + 100);
    assert_int_equal(size_of(f, "SESSIONS"), whole);
    reopen(f);
    assert_int_equal(ff_sessions_devices(f->ss), 2000);
    /* d7's session as the second chunk left it (it ended at 100 minutes): 110 joins it; with
     * only the file's record it would have started another */
    assert_string_equal(page(f->ss, "d7", T0 + 110 * MIN_US, "https://x.test/", NULL), x0);
    /* the file's devices are there: d8's session from T0 goes on at T0 + 20 minutes */
    char d8[32];
    snprintf(d8, sizeof d8, "%s", page(f->ss, "d8", T0, "https://x.test/", NULL));
    assert_string_equal(page(f->ss, "d8", T0 + 20 * MIN_US, "https://x.test/", NULL), d8);
    /* every device changes: more than the file again, so it is rewritten and the journal goes */
    many_devices(f, 2000, T0 + 200 * MIN_US);
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + 201 * MIN_US), 0);
    assert_int_equal(size_of(f, "SESSIONS.journal"), -1);
    assert_true(size_of(f, "SESSIONS") > whole);
    char y0[32];
    snprintf(y0, sizeof y0, "%s", page(f->ss, "d9", T0 + 200 * MIN_US, "https://x.test/", NULL));
    reopen(f);
    assert_string_equal(page(f->ss, "d9", T0 + 210 * MIN_US, "https://x.test/", NULL), y0);
}

static void append_bytes(const struct fx *f, const char *name, const char *bytes, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "ab");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, n, fp), n);
    fclose(fp);
}

/* A crash in the middle of an append leaves a torn chunk: the reopen keeps the whole chunks
 * before it, and the next append overwrites it, so later reopens read on past it. */
static void test_a_torn_journal_tail_is_overwritten(void **state)
{
    struct fx *f = *state;
    many_devices(f, 10, T0);
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + MIN_US), 0);
    char a0[32], b0[32];
    snprintf(a0, sizeof a0, "%s", page(f->ss, "d1", T0 + 90 * MIN_US, "https://x.test/", NULL));
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + 91 * MIN_US), 0);
    const long good = size_of(f, "SESSIONS.journal");
    assert_true(good > 0);
    append_bytes(f, "SESSIONS.journal", "FFJRNL01\1\2\3", 11);
    reopen(f);
    assert_int_equal(size_of(f, "SESSIONS.journal"), good + 11); /* nothing written by reading */
    assert_string_equal(page(f->ss, "d1", T0 + 100 * MIN_US, "https://x.test/", NULL), a0);
    snprintf(b0, sizeof b0, "%s", page(f->ss, "d2", T0 + 90 * MIN_US, "https://x.test/", NULL));
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + 101 * MIN_US), 0);
    assert_true(size_of(f, "SESSIONS.journal") > good);
    reopen(f);
    assert_string_equal(page(f->ss, "d1", T0 + 110 * MIN_US, "https://x.test/", NULL), a0);
    assert_string_equal(page(f->ss, "d2", T0 + 100 * MIN_US, "https://x.test/", NULL), b0);
}

/* A journal left from before a rewrite (its removal failed, or a crash came between) names
 * the file it extended: the rewritten file does not take its chunks. */
static void test_a_journal_of_an_earlier_file_is_not_read(void **state)
{
    struct fx *f = *state;
    many_devices(f, 10, T0);
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + MIN_US), 0);
    page(f->ss, "d1", T0 + 90 * MIN_US, "https://x.test/", NULL);
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + 91 * MIN_US), 0);
    char path[256], old[4096];
    snprintf(path, sizeof path, "%s/SESSIONS.journal", f->dir);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = fread(old, 1, sizeof old, fp);
    fclose(fp);
    assert_true(n > 0 && n < sizeof old);
    /* every device changes (d1 starts yet another session): the file is rewritten */
    many_devices(f, 10, T0 + 200 * MIN_US);
    char d1[32];
    snprintf(d1, sizeof d1, "%s", page(f->ss, "d1", T0 + 200 * MIN_US, "https://x.test/", NULL));
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + 201 * MIN_US), 0);
    assert_int_equal(size_of(f, "SESSIONS.journal"), -1);
    append_bytes(f, "SESSIONS.journal", old, n); /* back, as if its removal had failed */
    reopen(f);
    /* d1 as the rewritten file has it, not as the old chunk did */
    assert_string_equal(page(f->ss, "d1", T0 + 210 * MIN_US, "https://x.test/", NULL), d1);
    /* the next chunk goes at the start, over the old one, and is read */
    char d2[32];
    snprintf(d2, sizeof d2, "%s", page(f->ss, "d2", T0 + 300 * MIN_US, "https://x.test/", NULL));
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + 301 * MIN_US), 0);
    reopen(f);
    assert_string_equal(page(f->ss, "d2", T0 + 310 * MIN_US, "https://x.test/", NULL), d2);
}

/* A save with nothing to write (the only changed devices went quiet two days ago and were
 * let go) leaves the file and the journal as they were. */
static void test_a_save_of_nothing_keeps_the_file(void **state)
{
    struct fx *f = *state;
    many_devices(f, 10, T0 + 3 * 24 * 60 * MIN_US);
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + 3 * 24 * 60 * MIN_US), 0);
    const long whole = size_of(f, "SESSIONS");
    page(f->ss, "old1", T0, "https://x.test/", NULL);
    page(f->ss, "old2", T0, "https://x.test/", NULL);
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + 3 * 24 * 60 * MIN_US + MIN_US), 0);
    assert_int_equal(size_of(f, "SESSIONS"), whole);
    reopen(f);
    assert_int_equal(ff_sessions_devices(f->ss), 10);
}

/* Saves from two threads at once (a flush's and an erasure's) while events come: each
 * chunk goes after the last, so a reopen has every device. */
struct saver {
    struct fx *f;
    atomic_int *stop;
    int failures;
};

static void *save_loop(void *arg)
{
    struct saver *sv = arg;
    while (!atomic_load(sv->stop)) sv->failures += ff_sessions_save(sv->f->ss, sv->f->dir, T0 + MIN_US) != 0;
    return NULL;
}

static void test_concurrent_saves_lose_nothing(void **state)
{
    struct fx *f = *state;
    many_devices(f, 50, T0);
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0), 0);
    atomic_int stop = 0;
    struct saver sv[2] = {{f, &stop, 0}, {f, &stop, 0}};
    pthread_t t[2];
    for (int k = 0; k < 2; k++) assert_int_equal(pthread_create(&t[k], NULL, save_loop, &sv[k]), 0);
    char anon[32], id[FF_SESSION_ID_LEN];
    for (int i = 0; i < 3000; i++) {
        snprintf(anon, sizeof anon, "c%d", i);
        struct ff_event e = ev_at(FF_EV_PAGE, anon, NULL, T0 + i);
        assert_int_equal(ff_sessions_assign(f->ss, &e, NULL, id), 1);
    }
    atomic_store(&stop, 1);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(pthread_join(t[k], NULL), 0);
        assert_int_equal(sv[k].failures, 0);
    }
    assert_int_equal(ff_sessions_save(f->ss, f->dir, T0 + MIN_US), 0);
    reopen(f);
    assert_int_equal(ff_sessions_devices(f->ss), 3050);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inactivity_ends_a_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_is_configurable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_midnight_in_the_project_zone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_new_campaign_starts_a_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_which_calls_have_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_gives_the_same_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget_and_idle_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_saves_journal_what_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_torn_journal_tail_is_overwritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_journal_of_an_earlier_file_is_not_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_save_of_nothing_keeps_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_saves_lose_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
