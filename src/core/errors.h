/* errors.h - footfall's error codes: 0 is success, negative values are errors.
 *
 * Functions return -errno for system failures (-ENOMEM, -ENOSPC, -EIO) and one of the
 * FF_E* values below for conditions errno has no word for. */
#ifndef FF_ERRORS_H
#define FF_ERRORS_H

#define FF_ECORRUPT (-10001) /* bytes on disk or on the wire fail a check */
#define FF_ETOOBIG  (-10002) /* a capped buffer or limit would be exceeded */
#define FF_EINVAL   (-10003) /* input that does not follow its format */

/* A short human-readable text for any error code this project returns. */
const char *ff_strerror(int err);

#endif
