/* datadir.h - one process at a time writes a data directory: DATA/LOCK holds an exclusive
 * flock and the holder's pid. The server takes it, and so do offline commands that write
 * (erase, check --repair); commands that only read do not need it. */
#ifndef FF_DATADIR_H
#define FF_DATADIR_H

/* Creates `dir` when missing and locks it; *fd keeps the lock until closed. 0, or a negative
 * error after logging why (another footfall holds it: its pid is named). */
int ff_datadir_lock(const char *dir, int *fd);

#endif
