/* prune_fixture.h - the store that the block-pruning tests of test_part.c (the store's
 * listings) and test_query.c (queries by columns) damage: one part of four blocks, one person,
 * one event name and one hour a block, and a way to flip a byte in every chunk of one block.
 * Header-only, for those two tests. */
#ifndef FF_PRUNE_FIXTURE_H
#define FF_PRUNE_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "event/event.h"
#include "store/part.h"
#include "store/store.h"

#ifndef DAY_US
#define DAY_US (86400LL * 1000000LL)
#endif
#define HOUR_US (3600LL * 1000000)

#define PRUNE_ROWS 64
#define PRUNE_DAY 20393LL /* 2025-11-01 */
static const char *const prune_names[] __attribute__((unused)) = {"Alpha", "Beta", "Gamma", "Delta"};

/* Fills dir with a store holding one part of PRUNE_DAY of four blocks of PRUNE_ROWS rows, one
 * block per person (user ids p0..p3; rows are sorted by person): person k's events are all
 * named prune_names[k] and all in hour 2k + 1 of the day. Writes the part's path to path. */
static inline void prune_store(const char *dir, char *path, size_t cap)
{
    char err[512] = "";
    struct ff_store_opts o = {.dir = dir, .flush_interval_us = 3600LL * 1000000, .block_rows = PRUNE_ROWS,
                              .wal_keep_us = DAY_US, .manual_flush = 1};
    struct ff_store *s;
    assert_int_equal(ff_store_open(&s, &o, err, sizeof err), 0);
    struct ff_buf b;
    ff_buf_init(&b, 1 << 24);
    for (int i = 0; i < PRUNE_ROWS; i++) /* persons interleaved in arrival order */
        for (int k = 0; k < 4; k++) {
            char mid[32], user[8];
            snprintf(mid, sizeof mid, "m-%d-%d", k, i);
            snprintf(user, sizeof user, "p%d", k);
            struct ff_event ev = {.type = FF_EV_TRACK, .format = FF_FMT_SEGMENT, .original_timestamp_us = FF_TIME_NONE,
                                  .sent_at_us = FF_TIME_NONE};
            ev.timestamp_us = ev.received_at_us = PRUNE_DAY * DAY_US + (2 * k + 1) * HOUR_US + i * 10000000LL;
            ev.message_id = (struct ff_str){mid, (uint32_t)strlen(mid)};
            ev.user_id = (struct ff_str){user, (uint32_t)strlen(user)};
            ev.event = (struct ff_str){prune_names[k], (uint32_t)strlen(prune_names[k])};
            assert_int_equal(ff_event_encode(&b, &ev), 0);
        }
    ff_store_on_durable(s, 1, b.data, b.len, NULL, 0);
    ff_buf_free(&b);
    assert_int_equal(ff_store_flush(s), 0);
    ff_store_close(s);
    char parts[256];
    snprintf(parts, sizeof parts, "%s/parts", dir);
    DIR *d = opendir(parts);
    assert_non_null(d);
    int found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n > 5 && !strcmp(e->d_name + n - 5, ".part")) {
            snprintf(path, cap, "%s/%s", parts, e->d_name);
            found++;
        }
    }
    closedir(d);
    assert_int_equal(found, 1);
}

/* Flips a byte in the middle of every chunk of the block of person k (its event codes all
 * prune_names[k]'s, its times all in hour 2k + 1); returns that block. */
static inline uint32_t prune_corrupt(const char *path, int k)
{
    struct ff_part *p;
    char err[512];
    assert_int_equal(ff_part_open(path, &p, err, sizeof err), 0);
    assert_int_equal(p->info.nblocks, 4);
    int ev = ff_part_column_index(p, "event"), tc = ff_part_column_index(p, "time"), ty = ff_part_column_index(p, "type");
    assert_int_equal(p->cols[ev].enc, FF_ENC_DICT);
    const struct ff_str *dict;
    uint32_t count;
    assert_int_equal(ff_part_dict(p, (uint32_t)ev, &dict, &count, err, sizeof err), 0);
    assert_int_equal(count, 4);
    int64_t code = -1;
    for (uint32_t i = 0; i < count; i++)
        if (dict[i].len == strlen(prune_names[k]) && !memcmp(dict[i].p, prune_names[k], dict[i].len)) code = i;
    const int64_t h0 = PRUNE_DAY * DAY_US + (2 * k + 1) * HOUR_US;
    uint32_t victim = UINT32_MAX;
    for (uint32_t b = 0; b < p->info.nblocks; b++) {
        const struct ff_chunkref *e = &p->blocks[b].chunks[ev], *t = &p->blocks[b].chunks[tc];
        assert_int_equal(p->blocks[b].nrows, PRUNE_ROWS);
        assert_true(p->blocks[b].chunks[ty].min == FF_EV_TRACK && p->blocks[b].chunks[ty].max == FF_EV_TRACK);
        assert_int_equal(e->min, e->max); /* one person, one name a block */
        if (e->min == code) {
            assert_true(t->min >= h0 && t->max < h0 + HOUR_US);
            victim = b;
        } else {
            assert_true(t->max < h0 || t->min >= h0 + HOUR_US);
        }
    }
    assert_true(victim != UINT32_MAX);
    long offs[64];
    uint32_t n = p->info.ncols < 64 ? p->info.ncols : 64;
    for (uint32_t c = 0; c < n; c++) {
        const struct ff_chunkref *ch = &p->blocks[victim].chunks[c];
        offs[c] = ch->stored_len ? (long)(ch->offset + ch->stored_len / 2) : -1;
    }
    ff_part_close(p);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    for (uint32_t c = 0; c < n; c++) {
        if (offs[c] < 0) continue;
        fseek(fp, offs[c], SEEK_SET);
        int x = fgetc(fp);
        fseek(fp, offs[c], SEEK_SET);
        fputc(x ^ 0x10, fp);
    }
    fclose(fp);
    return victim;
}

#endif
