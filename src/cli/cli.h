/* cli.h - footfall's offline commands (events, quarantine, export, erase, check) and the option parsing
 * they share with `serve` (main.c). Each command returns the process exit status: 0, 1 for
 * a failure, 2 for a usage error (with a message on stderr). */
#ifndef FF_CLI_H
#define FF_CLI_H

#include <stdint.h>

/* A whole number for option `opt`; -1 with a message when it is not one. */
int ff_cli_size(const char *opt, const char *v, uint64_t *out);
/* An ISO 8601 date-time or epoch milliseconds, as µs; -1 with a message otherwise. */
int ff_cli_time(const char *opt, const char *v, int64_t *us);

enum { FF_READ_EVENTS, FF_READ_QUARANTINE, FF_READ_SESSIONS };
int ff_cmd_read(int argc, char **argv, int what); /* footfall events|quarantine|sessions */
int ff_cmd_export(int argc, char **argv);
int ff_cmd_query(int argc, char **argv);
int ff_cmd_analysis(int argc, char **argv);                          /* footfall analysis WHAT */
int ff_cmd_analysis_store(const char *what, int argc, char **argv); /* features, segments */
int ff_cmd_segment(int argc, char **argv);
int ff_cmd_alert(int argc, char **argv);
int ff_cmd_erase(int argc, char **argv);
int ff_cmd_check(int argc, char **argv);
int ff_cmd_project(int argc, char **argv);
int ff_cmd_import_log(int argc, char **argv);
int ff_cmd_tail_log(int argc, char **argv);
int ff_cmd_generate(int argc, char **argv);

/* The keys of a new project, as `project create` and the server's first start print them. */
#include <stdio.h>
void ff_print_new_project(FILE *f, const char *id, const char *write_key, const char *read_key);

#endif
