/* errors.c - text for footfall's error codes. */
#include "errors.h"

#include <string.h>

const char *ff_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case FF_ECORRUPT: return "data is corrupt";
    case FF_ETOOBIG: return "too big";
    case FF_EINVAL: return "invalid input";
    default: return err < 0 ? strerror(-err) : "unknown error";
    }
}
