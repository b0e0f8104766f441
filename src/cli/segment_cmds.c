/* segment_cmds.c - `footfall segment save|list|delete`: a project's saved segments
 * (project/segments.h) from the command line, as PUT, GET and DELETE /api/segments do. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "event/event.h"
#include "project/segments.h"
#include "query/query.h"

static int usage(void)
{
    fprintf(stderr, "footfall: usage: footfall segment save NAME '<json>' | list | delete NAME"
                    " [--project ID] [--data DIR]\n");
    return 2;
}

int ff_cmd_segment(int argc, char **argv)
{
    const char *dir = "footfall-data", *project = FF_DEFAULT_PROJECT, *pos[3] = {0};
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--data") || !strcmp(argv[i], "--project")) {
            if (i + 1 >= argc) return usage();
            if (argv[i][2] == 'd') dir = argv[++i];
            else project = argv[++i];
        } else if (npos < 3 && strncmp(argv[i], "--", 2)) {
            pos[npos++] = argv[i];
        } else {
            return usage();
        }
    }
    if (!npos) return usage();
    const char *cmd = pos[0], *name = pos[1];
    int save = !strcmp(cmd, "save"), del = !strcmp(cmd, "delete"), list = !strcmp(cmd, "list");
    if ((save && npos != 3) || (del && npos != 2) || (list && npos != 1) || !(save || del || list)) return usage();
    if (name && !ff_segment_name_ok(name, strlen(name))) {
        fprintf(stderr, "footfall: a segment's name is 1 to %d of A-Z a-z 0-9 _ . -\n", FF_SEGMENT_NAME_MAX);
        return 2;
    }
    char err[1024];
    if (save && ff_segment_check(pos[2], strlen(pos[2]), err, sizeof err)) {
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
    if (save) rc = ff_segment_save(c, project, name, pos[2], strlen(pos[2]), err, sizeof err);
    else if (del) rc = ff_segment_delete(c, project, name);
    else rc = ff_segments_json(c, project, &out);
    ff_catalog_close(c);
    if (rc == -ENOENT) fprintf(stderr, "footfall: no segment '%s' in project %s\n", name, project);
    else if (rc) fprintf(stderr, "footfall: %s\n", save ? err : "projects.db: cannot read or write segments");
    else if (list) printf("%.*s\n", (int)out.len, out.data);
    else printf("%s segment %s of project %s\n", save ? "saved" : "deleted", name, project);
    ff_buf_free(&out);
    return rc == -ENOENT ? 1 : rc ? 1 : 0;
}
