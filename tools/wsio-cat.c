/*
 * tools/wsio-cat.c - a WebSocket client and quick server for the command
 * line, in the spirit of nc: stdin goes out as messages, messages come out
 * on stdout. This file reads the command line; cat_client.c and
 * cat_listen.c do the work. docs/wsio-cat.1 is the manual.
 *
 *     echo hi | wsio-cat ws://127.0.0.1:9001/
 *     wsio-cat --listen 9001 --echo
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cat.h"

#define DEFAULT_WAIT_MS 2000
#define DEFAULT_MAX_MESSAGE (16u << 20)

static void usage(FILE *out)
{
    fputs(
        "usage: wsio-cat [options] ws://HOST[:PORT][/PATH]\n"
        "       wsio-cat --listen PORT [--host ADDR] [--echo|--broadcast] "
        "[options]\n"
        "\n"
        "Each line of stdin is sent as a text message; each message received\n"
        "is printed on its own line (binary ones as \"[binary N bytes] "
        "HEX\").\n"
        "\n"
        "Client options:\n"
        "  -H, --header 'NAME: VALUE'  add a request header (repeatable)\n"
        "  --subprotocol P      offer subprotocol P (comma-separated list)\n"
        "  --origin O           send Origin: O\n"
        "  --timeout MS         connect and handshake timeout (default 10000)\n"
        "  --wait MS            after stdin ends, wait MS for replies, then\n"
        "                       close (default 2000; with -n: no limit)\n"
        "  -n N                 close after N messages have been received\n"
        "  --reconnect          when the connection ends (or cannot be made),\n"
        "                       connect again after a growing random wait\n"
        "                       (0.5 s doubling up to 30 s) until stdin ends\n"
        "  --reconnect-max N    with --reconnect: give up after N tries in a\n"
        "                       row that did not open (default: never)\n"
        "  --resume             --reconnect, asking for what was missed: from\n"
        "                       lines \"TOPIC ID ...\" (examples/feed), each\n"
        "                       topic=NAME of the URL becomes topic=NAME:ID\n"
        "Server options:\n"
        "  --listen PORT        serve on PORT (0: any free port)\n"
        "  --host ADDR          address to listen on (default 127.0.0.1)\n"
        "  --echo               send each message back to its sender\n"
        "  --broadcast          send each message to every other client\n"
        "  --subprotocol P      accept subprotocol P when a client offers it\n"
        "Both:\n"
        "  --binary             send stdin as binary: the whole input as one\n"
        "                       message; write received messages raw\n"
        "  --chunk N            with --binary: one message per N bytes\n"
        "  --ping-interval MS   ping every MS; no pong by the next: drop\n"
        "  --max-message N      largest message, K/M suffix (default 16M)\n"
        "  -v, --verbose        log connections (and request headers) on "
        "stderr\n"
        "  -h, --help           this text\n"
        "  -V, --version        the wsio version\n"
        "\n"
        "Exit status: 0 closed with 1000, 1 usage, 2 connection failed,\n"
        "3 handshake refused, 4 closed with another code, 5 protocol error or\n"
        "abnormal close, 6 local error. See wsio-cat(1).\n",
        out);
}

static int bad(const char *fmt, const char *arg)
{
    fputs("wsio-cat: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see --help)\n", stderr);
    return CAT_EXIT_USAGE;
}

/* An unsigned number up to max, with an optional K or M suffix when
 * suffix is set. Returns 0, or -1 when text is not one. */
static int parse_number(const char *text, uint64_t max, int suffix,
                        uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || text[0] == '-' || text[0] == '+')
        return -1;
    uint64_t scale = 1;
    if (suffix && (*end == 'K' || *end == 'k'))
        scale = 1024, end++;
    else if (suffix && (*end == 'M' || *end == 'm'))
        scale = 1024 * 1024, end++;
    if (*end || v > max / scale)
        return -1;
    *out = v * scale;
    return 0;
}

/* "Name: value" into a header of slices pointing into text. */
static int parse_header(const char *text, wsio_http_header *h)
{
    const char *colon = strchr(text, ':');
    if (!colon || colon == text || strpbrk(text, "\r\n"))
        return -1;
    const char *name_end = colon;
    while (name_end > text && (name_end[-1] == ' ' || name_end[-1] == '\t'))
        name_end--;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    const char *v_end = v + strlen(v);
    while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
        v_end--;
    if (name_end == text)
        return -1;
    h->name = (wsio_slice){text, (size_t)(name_end - text)};
    h->value = (wsio_slice){v, (size_t)(v_end - v)};
    return 0;
}

/* The value of the option at argv[*i], advancing *i; NULL when missing. */
static const char *value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

typedef struct parsed {
    int wait_set, help, version, client_only, reconnect_max;
} parsed;

static int parse_option(int argc, char **argv, int *i, cat_opts *o, parsed *p)
{
    const char *a = argv[*i];
    uint64_t n;
#define VALUE()                                                                \
    const char *v = value(argc, argv, i);                                      \
    if (!v)                                                                    \
    return bad("%s needs a value", a)
#define NUMBER(max, suffix)                                                    \
    VALUE();                                                                   \
    if (parse_number(v, max, suffix, &n) < 0)                                  \
    return bad("not a valid number: %s", v)

    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
        p->help = 1;
    } else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
        p->version = 1;
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
        o->verbose = 1;
    } else if (!strcmp(a, "--binary")) {
        o->binary = 1;
    } else if (!strcmp(a, "--echo")) {
        o->serve = CAT_SERVE_ECHO;
    } else if (!strcmp(a, "--broadcast")) {
        o->serve = CAT_SERVE_BROADCAST;
    } else if (!strcmp(a, "-H") || !strcmp(a, "--header")) {
        VALUE();
        if (parse_header(v, &o->headers[o->num_headers]) < 0)
            return bad("not a 'Name: value' header: %s", v);
        o->num_headers++;
        p->client_only = 1;
    } else if (!strcmp(a, "--subprotocol")) {
        VALUE();
        o->subprotocol = v;
    } else if (!strcmp(a, "--origin")) {
        VALUE();
        o->origin = v;
        p->client_only = 1;
    } else if (!strcmp(a, "--host")) {
        VALUE();
        o->host = v;
    } else if (!strcmp(a, "--listen")) {
        NUMBER(65535, 0);
        o->listen = 1;
        o->port = (uint16_t)n;
    } else if (!strcmp(a, "--ping-interval")) {
        NUMBER(UINT32_MAX, 0);
        o->ping_interval_ms = (uint32_t)n;
    } else if (!strcmp(a, "--timeout")) {
        NUMBER(UINT32_MAX, 0);
        o->timeout_ms = (uint32_t)n;
        p->client_only = 1;
    } else if (!strcmp(a, "--wait")) {
        NUMBER(UINT32_MAX, 0);
        o->wait_ms = n;
        p->wait_set = p->client_only = 1;
    } else if (!strcmp(a, "-n")) {
        NUMBER(UINT64_MAX, 0);
        o->count = n;
        p->client_only = 1;
    } else if (!strcmp(a, "--reconnect")) {
        o->reconnect = 1;
        p->client_only = 1;
    } else if (!strcmp(a, "--resume")) {
        o->resume = o->reconnect = 1;
        p->client_only = 1;
    } else if (!strcmp(a, "--reconnect-max")) {
        NUMBER(UINT32_MAX, 0);
        o->reconnect_max = (unsigned)n;
        p->reconnect_max = p->client_only = 1;
    } else if (!strcmp(a, "--chunk")) {
        NUMBER(SIZE_MAX, 1);
        o->chunk = (size_t)n;
    } else if (!strcmp(a, "--max-message")) {
        NUMBER(SIZE_MAX / 2, 1);
        o->max_message = (size_t)n;
    } else if (a[0] == '-' && a[1] != '\0') {
        return bad("unknown option %s", a);
    } else if (o->url) {
        return bad("one URL only: %s", a);
    } else {
        o->url = a;
    }
    return 0;
#undef NUMBER
#undef VALUE
}

/* What the options mean together. */
static int check(const cat_opts *o, const parsed *p)
{
    if (o->listen && o->url)
        return bad("--listen takes no URL: %s", o->url);
    if (o->listen && p->client_only)
        return bad("%s", "-H, --origin, --timeout, --wait, -n and "
                         "--reconnect are for client mode");
    if (p->reconnect_max && !o->reconnect)
        return bad("%s", "--reconnect-max needs --reconnect");
    if (!o->listen && o->serve != CAT_SERVE_PRINT)
        return bad("%s", "--echo and --broadcast need --listen");
    if (!o->listen && !o->url)
        return bad("%s", "a ws:// URL or --listen PORT is needed");
    if (o->chunk && !o->binary)
        return bad("%s", "--chunk needs --binary");
    if (o->chunk > o->max_message)
        return bad("%s", "--chunk is over --max-message");
    if (o->max_message == 0)
        return bad("%s", "--max-message must be at least 1");
    if (o->url && strncmp(o->url, "wss://", 6) == 0) {
        /* The TLS transport is not part of this build. */
        fputs("wsio-cat: wss:// needs wsio built with TLS\n", stderr);
        return CAT_EXIT_USAGE;
    }
    if (o->url && strncmp(o->url, "ws://", 5) != 0)
        return bad("not a ws:// URL: %s", o->url);
    return CAT_EXIT_OK;
}

int main(int argc, char **argv)
{
    cat_opts o = {.host = "127.0.0.1",
                  .wait_ms = DEFAULT_WAIT_MS,
                  .max_message = DEFAULT_MAX_MESSAGE};
    parsed p = {0};
    /* Every -H is at most one header: argc bounds them. */
    o.headers = calloc((size_t)argc, sizeof *o.headers);
    if (!o.headers) {
        cat_log("out of memory");
        return CAT_EXIT_LOCAL;
    }
    int status = CAT_EXIT_OK;
    for (int i = 1; i < argc && status == CAT_EXIT_OK; i++)
        status = parse_option(argc, argv, &i, &o, &p);
    if (status == CAT_EXIT_OK && p.help) {
        usage(stdout);
    } else if (status == CAT_EXIT_OK && p.version) {
        printf("wsio-cat %s (wsio %s)\n", WSIO_VERSION_STRING, wsio_version());
    } else if (status == CAT_EXIT_OK &&
               (status = check(&o, &p)) == CAT_EXIT_OK) {
        /* -n alone waits as long as it takes for the N-th message. */
        if (o.count && !p.wait_set)
            o.wait_ms = CAT_WAIT_FOREVER;
        status = o.listen ? cat_listen_run(&o) : cat_client_run(&o);
    }
    free(o.headers);
    return status;
}
