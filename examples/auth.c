/*
 * examples/auth.c - authentication at the WebSocket handshake with JSON Web
 * Tokens (RFC 7519) signed with HMAC-SHA256 ("HS256", RFC 7518 section
 * 3.2). The token comes in the "token" query parameter (what a browser's
 * WebSocket can send) or an "Authorization: Bearer" header (RFC 6750, what
 * other clients send). A missing, malformed, badly signed or expired token,
 * or any algorithm but HS256 ("none" included), gets 401 and no WebSocket;
 * a good one opens it, with the user's name ("name", else "sub") kept as
 * the connection's user data for on_open and on_message.
 *
 *     export WSIO_AUTH_SECRET=$(openssl rand -hex 32)
 *     build/examples/auth --port 9002 &
 *     TOKEN=$(build/examples/auth --make-token alice --ttl 600)
 *     wsio-cat "ws://127.0.0.1:9002/?token=$TOKEN"
 *
 * The secret comes from WSIO_AUTH_SECRET or --secret-file, never from the
 * source, and must be at least 32 bytes (RFC 7518 section 3.2). HMAC and
 * base64 are OpenSSL's, the constant-time comparison is CRYPTO_memcmp, and
 * the claims are read with the chat example's strict JSON reader, which
 * takes flat objects only (a token with nested claims is refused).
 * libjwt was not used: Debian 12's 1.10 does not check "exp" (jwt_valid
 * came in 1.12) and takes the algorithm from the token's own header.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "example.h"
#include "json.h"

#define TOKEN_MAX 4096
#define SECRET_MIN 32
#define SECRET_MAX 4096
#define USER_MAX 64

typedef struct auth_app {
    char secret[SECRET_MAX];
    size_t secret_len;
} auth_app;

/* What a good token says; the ws's user data while it is open. */
typedef struct claims {
    char user[USER_MAX];
    double exp;
} claims;

/* ---- base64url (RFC 4648 section 5), through OpenSSL's base64 ----------- */

/* The 6-bit value of a base64url character, or -1. */
static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* Decode unpadded base64url text; returns the byte count or -1. Only the
 * canonical encoding is taken (RFC 4648 section 3.5): the bits of the last
 * character that hold no data must be zero, or else several tokens would
 * carry one signature, and a signature's text could be altered unseen. */
static long b64url_decode(const char *in, size_t len, unsigned char *out,
                          size_t cap)
{
    char tmp[TOKEN_MAX + 4];
    if (len % 4 == 1 || len + 4 > sizeof tmp || (len + 3) / 4 * 3 > cap)
        return -1;
    /* 2 characters left over carry 1 byte (4 bits unused), 3 carry 2 (2). */
    int unused_mask = len % 4 == 2 ? 0x0f : len % 4 == 3 ? 0x03 : 0;
    if (len && (b64url_value(in[len - 1]) & unused_mask))
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                   (c >= '0' && c <= '9')))
            return -1; /* padding, '+', '/', spaces: not base64url */
        tmp[i] = c;
    }
    size_t pad = (4 - len % 4) % 4;
    memset(tmp + len, '=', pad);
    int n = EVP_DecodeBlock(out, (const unsigned char *)tmp, (int)(len + pad));
    return n < 0 ? -1 : (long)n - (long)pad;
}

static size_t b64url_encode(const unsigned char *in, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        char c = out[i];
        if (c == '=')
            break;
        out[k++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    out[k] = '\0';
    return k;
}

/* ---- tokens -------------------------------------------------------------- */

static int hs256(const auth_app *app, const char *data, size_t len,
                 unsigned char mac[32])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), app->secret, (int)app->secret_len,
                (const unsigned char *)data, len, mac, &n) &&
           n == 32;
}

/* The user name is shown to others and logged: code points that are
 * control characters (a newline would split a log line) or invisible
 * (bidi overrides, zero-width: chat_utf8_is_invisible) are refused. name
 * is valid UTF-8 (the JSON reader checks). */
static int printable_name(const char *name, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = chat_utf8_next(name + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
            chat_utf8_is_invisible(cp))
            return 0;
        i += n;
    }
    return 1;
}

/* Check token; fill *c and return NULL, or return why it is refused. */
static const char *verify(const auth_app *app, const char *token, size_t len,
                          claims *c, double now)
{
    if (len == 0)
        return "no token";
    if (len > TOKEN_MAX)
        return "token too long";
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 =
        dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 ||
        memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return "malformed (not three parts)";
    /* The header first: only HS256 is ever accepted, whatever it says. */
    char head[TOKEN_MAX], body[TOKEN_MAX];
    long hl = b64url_decode(token, (size_t)(dot1 - token),
                            (unsigned char *)head, sizeof head);
    if (hl < 0)
        return "malformed header";
    char alg[16] = "", typ[16] = "";
    chat_json_member hm[] = {{"alg", alg, sizeof alg, 0, 0},
                             {"typ", typ, sizeof typ, 0, 0},
                             {"crit", NULL, 0, 0, 0}};
    if (chat_json_parse_object(head, (size_t)hl, hm, 3) != 0)
        return "malformed header";
    if (hm[0].kind != CHAT_JSON_STRING || strcmp(alg, "HS256") != 0)
        return "algorithm is not HS256";
    if ((hm[1].kind != CHAT_JSON_ABSENT && strcmp(typ, "JWT") != 0) ||
        hm[2].kind != CHAT_JSON_ABSENT)
        return "unsupported header";
    /* The signature over "header.payload", compared in constant time. */
    unsigned char sig[64], mac[32];
    long sl = b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig,
                            sizeof sig);
    if (sl != 32 || !hs256(app, token, (size_t)(dot2 - token), mac) ||
        CRYPTO_memcmp(sig, mac, 32) != 0)
        return "bad signature";
    /* Then the claims. */
    long bl = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1),
                            (unsigned char *)body, sizeof body);
    char sub[USER_MAX], name[USER_MAX], exp[32], nbf[32];
    chat_json_member cm[] = {{"sub", sub, sizeof sub, 0, 0},
                             {"name", name, sizeof name, 0, 0},
                             {"exp", exp, sizeof exp, 0, 0},
                             {"nbf", nbf, sizeof nbf, 0, 0}};
    if (bl < 0 || chat_json_parse_object(body, (size_t)bl, cm, 4) != 0)
        return "malformed claims";
    if (cm[2].kind != CHAT_JSON_NUMBER)
        return "no expiry";
    c->exp = strtod(exp, NULL);
    if (c->exp <= now)
        return "expired";
    if (cm[3].kind != CHAT_JSON_ABSENT &&
        (cm[3].kind != CHAT_JSON_NUMBER || strtod(nbf, NULL) > now))
        return "not valid yet";
    const chat_json_member *who =
        cm[1].kind == CHAT_JSON_STRING ? &cm[1] : &cm[0];
    if (who->kind != CHAT_JSON_STRING || who->len == 0 || who->len >= USER_MAX)
        return "no user name";
    if (!printable_name(who->buf, who->len))
        return "user name has unprintable characters";
    memcpy(c->user, who->buf, who->len + 1);
    return NULL;
}

static void make_token(const auth_app *app, const char *user, long ttl)
{
    char body[512];
    chat_json_writer w;
    long now = (long)time(NULL);
    chat_json_writer_init(&w, body, sizeof body);
    chat_json_write_raw(&w, "{\"sub\":", 7);
    chat_json_write_string(&w, user, strlen(user));
    chat_json_write_raw(&w, ",\"name\":", 8);
    chat_json_write_string(&w, user, strlen(user));
    chat_json_write_raw(&w, ",\"iat\":", 7);
    chat_json_write_int(&w, now);
    chat_json_write_raw(&w, ",\"exp\":", 7);
    chat_json_write_int(&w, now + ttl);
    chat_json_write_raw(&w, "}", 1);
    if (w.len >= sizeof body) {
        fprintf(stderr, "auth: user name too long\n");
        exit(2);
    }
    static const char head[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char token[1024];
    size_t n =
        b64url_encode((const unsigned char *)head, sizeof head - 1, token);
    token[n++] = '.';
    n += b64url_encode((const unsigned char *)body, w.len, token + n);
    unsigned char mac[32];
    if (!hs256(app, token, n, mac)) {
        fprintf(stderr, "auth: HMAC failed\n");
        exit(1);
    }
    token[n++] = '.';
    b64url_encode(mac, sizeof mac, token + n);
    printf("%s\n", token);
}

/* ---- where the token is ------------------------------------------------ */

/* "Authorization: Bearer T" first, else "?token=T" (first one). */
static int find_token(const wsio_http_request *req, wsio_slice *out)
{
    wsio_slice v;
    if (wsio_http_header_find(req->headers, req->num_headers, "Authorization",
                              &v)) {
        if (v.len < 7 || strncasecmp(v.ptr, "Bearer ", 7) != 0)
            return 0;
        out->ptr = v.ptr + 7;
        out->len = v.len - 7;
        return 1;
    }
    const char *q = req->query.ptr, *end = req->query.ptr + req->query.len;
    while (q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        if (pe - q >= 6 && memcmp(q, "token=", 6) == 0) {
            out->ptr = q + 6;
            out->len = (size_t)(pe - q - 6);
            return 1;
        }
        q = pe + 1;
    }
    return 0;
}

/* ---- the server ---------------------------------------------------------- */

/* tutorial:begin auth-upgrade */
static int on_upgrade(wsio_server *srv, const wsio_request_info *info,
                      wsio_upgrade_decision *d, void *user)
{
    (void)srv;
    static const char body[] = "401 Unauthorized: a valid token is needed\n";
    /* RFC 6750 section 3: tell the client what kind of token is wanted. */
    static const wsio_http_header challenge[] = {
        {{"WWW-Authenticate", 16}, {"Bearer error=\"invalid_token\"", 28}}};
    auth_app *app = user;
    wsio_slice tok = {"", 0};
    claims c;
    memset(&c, 0, sizeof c);
    const char *why =
        find_token(info->request, &tok)
            ? verify(app, tok.ptr, tok.len, &c, (double)time(NULL))
            : "no token";
    claims *keep = why ? NULL : malloc(sizeof *keep);
    if (!why && !keep)
        why = "out of memory";
    if (why) {
        /* The token itself is never logged: it is a credential. */
        example_log("auth", "refused %s: %s", info->remote_addr, why);
        d->accept = 0;
        d->reject.status = 401;
        d->reject.headers = challenge;
        d->reject.num_headers = 1;
        d->reject.body = body;
        d->reject.body_len = sizeof body - 1;
        return 0;
    }
    *keep = c;
    d->ws_user = keep;
    return 0;
}
/* tutorial:end auth-upgrade */

static void on_open(wsio_ws *ws, void *user)
{
    (void)user;
    const claims *c = wsio_ws_get_user(ws);
    char hello[128];
    int n = snprintf(hello, sizeof hello, "hello %s", c->user);
    example_log("auth", "open %s as %s", wsio_ws_remote_addr(ws, NULL),
                c->user);
    wsio_ws_send(ws, WSIO_OP_TEXT, hello, (size_t)n);
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)user;
    const claims *c = wsio_ws_get_user(ws);
    if (m->opcode != WSIO_OP_TEXT || m->len > 4000)
        return 0;
    char out[4200];
    int n = snprintf(out, sizeof out, "%s: %.*s", c->user, (int)m->len,
                     (const char *)m->data);
    wsio_ws_send(ws, WSIO_OP_TEXT, out, (size_t)n);
    return 0;
}

static void on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)user;
    claims *c = wsio_ws_get_user(ws);
    example_log("auth", "close %s, code %u", c ? c->user : "?", info->code);
    free(c);
}

/* ---- the secret ---------------------------------------------------------- */

static void load_secret(auth_app *app, const char *file)
{
    const char *env = getenv("WSIO_AUTH_SECRET");
    if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) {
            perror(file);
            exit(1);
        }
        app->secret_len = fread(app->secret, 1, sizeof app->secret, f);
        fclose(f);
        while (app->secret_len && (app->secret[app->secret_len - 1] == '\n' ||
                                   app->secret[app->secret_len - 1] == '\r'))
            app->secret_len--;
    } else if (env && strlen(env) < sizeof app->secret) {
        app->secret_len = strlen(env);
        memcpy(app->secret, env, app->secret_len);
    }
    if (app->secret_len < SECRET_MIN) {
        fprintf(stderr,
                "auth: set WSIO_AUTH_SECRET or --secret-file to a "
                "secret of at least %d bytes\n",
                SECRET_MIN);
        exit(2);
    }
}

static void usage(void)
{
    printf(
        "usage: auth [options]\n"
        "       auth --make-token USER [--ttl SECONDS] [--secret-file F]\n%s"
        "  --secret-file F   the HS256 secret (else $WSIO_AUTH_SECRET)\n"
        "  --make-token USER print a token for USER and exit\n"
        "  --ttl SECONDS     lifetime of --make-token's token (default 3600)\n",
        example_usage_common());
}

int main(int argc, char **argv)
{
    example_opts o = {.host = "127.0.0.1", .port = 9002};
    static auth_app app;
    const char *secret_file = NULL, *make_for = NULL;
    long ttl = 3600;
    for (int i = 1; i < argc; i++) {
        if (example_parse_common(argc, argv, &i, &o))
            continue;
        if (strcmp(argv[i], "--secret-file") == 0) {
            secret_file = example_value(argc, argv, &i);
        } else if (strcmp(argv[i], "--make-token") == 0) {
            make_for = example_value(argc, argv, &i);
        } else if (strcmp(argv[i], "--ttl") == 0) {
            ttl = strtol(example_value(argc, argv, &i), NULL, 10);
        } else {
            usage();
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    load_secret(&app, secret_file);
    if (make_for) {
        make_token(&app, make_for, ttl);
        return 0;
    }
    wsio_loop *loop = example_loop_new("auth", &o);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    wsio_ws_callbacks cb = {
        .on_open = on_open, .on_message = on_message, .on_close = on_close};
    wsio_server_hooks hooks = {.on_upgrade = on_upgrade};
    wsio_server *srv =
        example_listen("auth", "ws", loop, &o, &cfg, &cb, &hooks, &app);
    example_run("auth", loop, srv);
    wsio_loop_free(loop);
    OPENSSL_cleanse(app.secret, sizeof app.secret);
    return 0;
}
