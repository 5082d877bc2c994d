/*
 * src/common_err.c - the error table of wsio/common.h, turned into lookups.
 */
#include <string.h>

#include "internal.h"

const char *wsio_strerror(int err)
{
    switch (err) {
    case WSIO_OK:
        return "success";
#define WSIO_ERR_TEXT(name, value, close, http, text)                          \
    case WSIO_##name:                                                          \
        return text;
        WSIO_ERR_MAP(WSIO_ERR_TEXT)
#undef WSIO_ERR_TEXT
    default:
        break;
    }
    /* Backends and transports pass -errno through unchanged. */
    if (err < 0 && err > -1000)
        return strerror(-err);
    return "unknown error";
}

const char *wsio_err_name(int err)
{
    switch (err) {
    case WSIO_OK:
        return "OK";
#define WSIO_ERR_NAME(name, value, close, http, text)                          \
    case WSIO_##name:                                                          \
        return #name;
        WSIO_ERR_MAP(WSIO_ERR_NAME)
#undef WSIO_ERR_NAME
    default:
        return "UNKNOWN";
    }
}

int wsio_err_close_code(int err)
{
    switch (err) {
#define WSIO_ERR_CLOSE(name, value, close, http, text)                         \
    case WSIO_##name:                                                          \
        return close;
        WSIO_ERR_MAP(WSIO_ERR_CLOSE)
#undef WSIO_ERR_CLOSE
    default:
        return 0;
    }
}

int wsio_err_http_status(int err)
{
    switch (err) {
#define WSIO_ERR_HTTP(name, value, close, http, text)                          \
    case WSIO_##name:                                                          \
        return http;
        WSIO_ERR_MAP(WSIO_ERR_HTTP)
#undef WSIO_ERR_HTTP
    default:
        return 0;
    }
}

int wsio_err_is_fatal(int err)
{
    return err <= -1900 && err > -2000;
}

int wsio_close_code_is_valid(unsigned code)
{
    /* RFC 6455 section 7.4.1 defines 1000-1003 and 1007-1011; 1012-1014 were
     * added to the IANA registry later. 1004 is reserved, and 1005, 1006 and
     * 1015 "MUST NOT be set as a status code in a Close control frame".
     * Section 7.4.2: 3000-3999 are registered, 4000-4999 private use. */
    if (code >= 1000 && code <= 1003)
        return 1;
    if (code >= 1007 && code <= 1014)
        return 1;
    return code >= 3000 && code <= 4999;
}

const char *wsio_version(void)
{
    return WSIO_VERSION_STRING;
}

unsigned wsio_version_number(void)
{
    return WSIO_VERSION_NUMBER;
}
