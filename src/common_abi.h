/*
 * src/common_abi.h - the caller's sized structs, read safely (internal).
 *
 * Every public config struct, and wsio_broker, starts with size_t
 * struct_size: the struct's size in the header the caller was built with
 * (docs/DESIGN.md, "ABI"). Releases of one SONAME only append fields, so
 * the bytes both sides know mean the same thing: the library takes those
 * from the caller and its own defaults for the rest, and never writes past
 * the caller's size. Static inline, so that the optional modules (separate
 * libraries that see only libwsio's exported symbols) use the same code.
 */
#ifndef WSIO_ABI_H
#define WSIO_ABI_H

#include <string.h>

#include "wsio/common.h"

/* Bytes of type up to the end of member: a struct's smallest accepted
 * struct_size is this for the last member of its first sized release. */
#define WSIO__SIZE_THROUGH(type, member)                                       \
    (offsetof(type, member) + sizeof(((type *)0)->member))

/*
 * Fill the caller's struct cfg (caller_size bytes) from def, the library's
 * defaults (own_size bytes): the bytes both know from def, any beyond that
 * zero, then struct_size = caller_size. What the _config_default macros
 * call, with the caller's sizeof.
 */
static inline void wsio__config_fill(void *cfg, size_t caller_size,
                                     const void *def, size_t own_size)
{
    size_t n = caller_size < own_size ? caller_size : own_size;
    memcpy(cfg, def, n);
    memset((char *)cfg + n, 0, caller_size - n);
    if (caller_size >= sizeof caller_size)
        memcpy(cfg, &caller_size, sizeof caller_size);
}

/*
 * Read the caller's struct src over dst, which holds the library's
 * defaults (own_size bytes): the bytes src's struct_size covers and the
 * library knows replace the defaults; dst's struct_size stays own_size.
 * Returns 0, or WSIO_EINVAL when struct_size is under min_size (0: the
 * caller never filled it) or the caller set fields of a newer release
 * that this library cannot honour (bytes past own_size that are not 0).
 */
static inline int wsio__config_copy(void *dst, size_t own_size, const void *src,
                                    size_t min_size)
{
    size_t size;
    memcpy(&size, src, sizeof size);
    if (size < min_size || size < sizeof size)
        return WSIO_EINVAL;
    for (size_t i = own_size; i < size; i++)
        if (((const unsigned char *)src)[i])
            return WSIO_EINVAL;
    memcpy((char *)dst + sizeof size, (const char *)src + sizeof size,
           (size < own_size ? size : own_size) - sizeof size);
    return 0;
}

/*
 * 1 when the ops table ops (its first member unsigned abi_version) is of
 * version need or later: need is the version that brought the last of the
 * members the caller uses, and tables only ever gain members at the end.
 */
static inline int wsio__ops_at_least(const void *ops, unsigned need)
{
    unsigned version;
    memcpy(&version, ops, sizeof version);
    return version >= need;
}

#endif /* WSIO_ABI_H */
