/* segment_cmds.c - `footfall segment save|list|delete` and `footfall alert save|list|delete|
 * events`: a project's saved segments and alert rules (project/segments.h) from the command
 * line, as PUT, GET and DELETE /api/segments and /api/analysis/alerts do. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "event/event.h"
#include "analysis/alerts.h"
#include "project/segments.h"
#include "query/query.h"

static int usage(const char *noun)
{
    fprintf(stderr, "footfall: usage: footfall %s save NAME '<json>' | list | delete NAME%s"
                    " [--project ID] [--data DIR]\n", noun, strcmp(noun, "alert") ? "" : " | events");
    return 2;
}

static int saved_cmd(enum ff_saved what, int argc, char **argv)
{
    const char *noun = what == FF_SAVED_ALERT ? "alert" : "segment";
    int (*check)(const char *, size_t, char *, size_t) = what == FF_SAVED_ALERT ? ff_alert_check : ff_segment_check;
    const char *dir = "footfall-data", *project = FF_DEFAULT_PROJECT, *pos[3] = {0};
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--data") || !strcmp(argv[i], "--project")) {
            if (i + 1 >= argc) return usage(noun);
            if (argv[i][2] == 'd') dir = argv[++i];
            else project = argv[++i];
        } else if (npos < 3 && strncmp(argv[i], "--", 2)) {
            pos[npos++] = argv[i];
        } else {
            return usage(noun);
        }
    }
    if (!npos) return usage(noun);
    const char *cmd = pos[0], *name = pos[1];
    int save = !strcmp(cmd, "save"), del = !strcmp(cmd, "delete"), list = !strcmp(cmd, "list");
    int events = what == FF_SAVED_ALERT && !strcmp(cmd, "events");
    if ((save && npos != 3) || (del && npos != 2) || ((list || events) && npos != 1) || !(save || del || list || events))
        return usage(noun);
    if (events) {
        struct ff_buf out;
        ff_buf_init(&out, (size_t)1 << 30);
        int rc = ff_alert_events_json(dir, project, 1000, &out);
        if (rc) fprintf(stderr, "footfall: projects.db: cannot read the alert events\n");
        else printf("%.*s\n", (int)out.len, out.data);
        ff_buf_free(&out);
        return rc ? 1 : 0;
    }
    if (name && !ff_segment_name_ok(name, strlen(name))) {
        fprintf(stderr, "footfall: a%s %s's name is 1 to %d of A-Z a-z 0-9 _ . -\n", what == FF_SAVED_ALERT ? "n" : "",
                noun, FF_SEGMENT_NAME_MAX);
        return 2;
    }
    char err[1024];
    if (save && check(pos[2], strlen(pos[2]), err, sizeof err)) {
        fprintf(stderr, "footfall: %s\n", err);
        return 2;
    }
    struct ff_catalog *c;
    if (ff_catalog_open(dir, 0, &c, err, sizeof err)) {
        fprintf(stderr, "footfall: %s\n", err);
        return 1;
    }
    struct ff_buf out;
    ff_buf_init(&out, (size_t)1 << 30);
    int rc;
    if (save) rc = ff_saved_save(c, what, project, name, pos[2], strlen(pos[2]), err, sizeof err);
    else if (del) rc = ff_saved_delete(c, what, project, name);
    else rc = ff_saved_json(c, what, project, &out);
    ff_catalog_close(c);
    if (rc == -ENOENT) fprintf(stderr, "footfall: no %s '%s' in project %s\n", noun, name, project);
    else if (rc) fprintf(stderr, "footfall: %s\n", save ? err : "projects.db: cannot read or write them");
    else if (list) printf("%.*s\n", (int)out.len, out.data);
    else printf("%s %s %s of project %s\n", save ? "saved" : "deleted", noun, name, project);
    ff_buf_free(&out);
    return rc == -ENOENT ? 1 : rc ? 1 : 0;
}

int ff_cmd_segment(int argc, char **argv) { return saved_cmd(FF_SAVED_SEGMENT, argc, argv); }
int ff_cmd_alert(int argc, char **argv) { return saved_cmd(FF_SAVED_ALERT, argc, argv); }
