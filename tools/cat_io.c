/*
 * tools/cat_io.c - stdin cut into messages, and messages written to stdout.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cat.h"

#define READ_SIZE 65536

void cat_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wsio-cat: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cat_input_init(cat_input *in, const cat_opts *o)
{
    memset(in, 0, sizeof *in);
    in->binary = o->binary;
    in->chunk = o->chunk;
    in->max = o->max_message;
}

void cat_input_free(cat_input *in)
{
    free(in->buf);
    in->buf = NULL;
}

enum wsio_opcode cat_input_opcode(const cat_input *in)
{
    return in->binary ? WSIO_OP_BINARY : WSIO_OP_TEXT;
}

int cat_input_read(cat_input *in)
{
    /* Messages already handed out are done with: drop them. */
    if (in->pos > 0) {
        memmove(in->buf, in->buf + in->pos, in->len - in->pos);
        in->len -= in->pos;
        in->pos = 0;
    }
    if (in->cap - in->len < READ_SIZE) {
        size_t cap = in->cap ? in->cap * 2 : 2 * READ_SIZE;
        char *p = realloc(in->buf, cap);
        if (!p)
            return WSIO_ENOMEM;
        in->buf = p;
        in->cap = cap;
    }
    ssize_t n = read(0, in->buf + in->len, READ_SIZE);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -errno;
    if (n == 0)
        in->eof = 1;
    in->len += (size_t)n;
    return 0;
}

/* Hand out buf[pos..pos+len) and skip skip more bytes (the newline). */
static int take(cat_input *in, size_t len, size_t skip, const char **data,
                size_t *out_len)
{
    *data = in->buf + in->pos;
    *out_len = len;
    in->pos += len + skip;
    in->messages++;
    return 1;
}

int cat_input_next(cat_input *in, const char **data, size_t *len)
{
    size_t avail = in->len - in->pos;
    if (!in->binary) {
        const char *nl = avail ? memchr(in->buf + in->pos, '\n', avail) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - (in->buf + in->pos));
            /* CRLF input (Windows files, telnet habits) loses the CR too. */
            size_t line = n > 0 && nl[-1] == '\r' ? n - 1 : n;
            if (line > in->max)
                return WSIO_ETOOBIG;
            return take(in, line, n + 1 - line, data, len);
        }
    } else if (in->chunk && avail >= in->chunk) {
        return take(in, in->chunk, 0, data, len);
    }
    if (avail > in->max)
        return WSIO_ETOOBIG;
    /* At EOF the rest is the last message: a line without its newline, the
     * whole input, or the last, shorter chunk. */
    if (in->eof && avail > 0)
        return take(in, avail, 0, data, len);
    return 0;
}

int cat_input_done(const cat_input *in)
{
    return in->eof && in->pos == in->len;
}

static int print_hex(const unsigned char *p, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    if (printf("[binary %zu bytes] ", len) < 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (putchar(digits[p[i] >> 4]) == EOF ||
            putchar(digits[p[i] & 15]) == EOF)
            return -1;
    }
    return putchar('\n') == EOF ? -1 : 0;
}

int cat_print_message(const cat_opts *o, const wsio_message *m)
{
    int rc;
    errno = 0;
    if (o->binary)
        rc = m->len && fwrite(m->data, 1, m->len, stdout) != m->len ? -1 : 0;
    else if (m->opcode == WSIO_OP_BINARY)
        rc = print_hex(m->data, m->len);
    else if (m->len && fwrite(m->data, 1, m->len, stdout) != m->len)
        rc = -1;
    else
        rc = putchar('\n') == EOF ? -1 : 0;
    /* Each message goes out as it arrives: the reader may be a pipe. */
    if (fflush(stdout) == EOF)
        rc = -1;
    return rc < 0 ? (errno ? -errno : WSIO_EINTERNAL) : 0;
}
