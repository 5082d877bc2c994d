/*
 * bench/peers/lws_server.c - libwebsockets as a peer for bench/compare.sh:
 * a minimal echo or broadcast server written the way the library's own
 * minimal examples are (messages kept in an lws_ring, one lws_write per
 * WRITEABLE callback).
 *
 *     lws_server [--host 127.0.0.1] [--port 9003] [--mode echo|broadcast]
 *
 * echo: every message comes back to its sender, binary as binary.
 * broadcast: every message goes to every connected client, the sender
 * included (like examples/broadcast.c), from one shared ring that each
 * connection reads with its own tail.
 *
 * Built with `pkg-config --cflags --libs libwebsockets`.
 */
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ECHO_RING 64    /* messages queued per connection (echo) */
#define BCAST_RING 1024 /* messages queued for all (broadcast) */

struct msg {
    unsigned char *buf; /* LWS_PRE bytes of headroom, then the payload */
    size_t len;
    int binary;
};

struct pss {
    struct pss *pss_list; /* broadcast: live sessions */
    struct lws *wsi;
    struct lws_ring *ring; /* echo: this session's queue */
    uint32_t tail;
    unsigned char *rx; /* a message arriving in fragments */
    size_t rx_len, rx_cap;
    int flow_off; /* reading paused: the ring was full */
};

struct vhd {
    struct lws_context *context;
    const struct lws_protocols *protocol;
    struct pss *pss_list;
    struct lws_ring *ring; /* broadcast */
};

static int broadcast_mode;
static volatile sig_atomic_t interrupted;
static struct lws_context *context;

static void destroy_msg(void *p)
{
    struct msg *m = p;
    free(m->buf);
    m->buf = NULL;
}

/* take_fragment - append in[0..len) to the message being assembled;
 * returns 1 when it is complete. */
static int take_fragment(struct lws *wsi, struct pss *pss, const void *in,
                         size_t len)
{
    if (pss->rx_len + len + LWS_PRE > pss->rx_cap) {
        size_t cap = pss->rx_cap ? pss->rx_cap : 256;
        while (cap < pss->rx_len + len + LWS_PRE)
            cap *= 2;
        unsigned char *p = realloc(pss->rx, cap);
        if (!p)
            return -1;
        pss->rx = p;
        pss->rx_cap = cap;
    }
    memcpy(pss->rx + LWS_PRE + pss->rx_len, in, len);
    pss->rx_len += len;
    return lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
}

/* finished_message - hand the assembled message over as a struct msg;
 * the session starts a new buffer. */
static struct msg finished_message(struct lws *wsi, struct pss *pss)
{
    struct msg m = {pss->rx, pss->rx_len, lws_frame_is_binary(wsi)};
    pss->rx = NULL;
    pss->rx_len = pss->rx_cap = 0;
    return m;
}

static int write_msg(struct lws *wsi, const struct msg *m)
{
    int n = lws_write(wsi, m->buf + LWS_PRE, m->len,
                      m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    return n < (int)m->len ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    struct pss *pss = user;
    struct vhd *vhd =
        lws_protocol_vh_priv_get(lws_get_vhost(wsi), lws_get_protocol(wsi));
    switch (reason) {
    case LWS_CALLBACK_PROTOCOL_INIT:
        vhd = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
                                          lws_get_protocol(wsi), sizeof *vhd);
        if (!vhd)
            return -1;
        vhd->context = lws_get_context(wsi);
        vhd->protocol = lws_get_protocol(wsi);
        if (broadcast_mode) {
            vhd->ring =
                lws_ring_create(sizeof(struct msg), BCAST_RING, destroy_msg);
            if (!vhd->ring)
                return 1;
        }
        break;
    case LWS_CALLBACK_PROTOCOL_DESTROY:
        if (vhd && vhd->ring)
            lws_ring_destroy(vhd->ring);
        break;
    case LWS_CALLBACK_ESTABLISHED:
        pss->wsi = wsi;
        if (broadcast_mode) {
            lws_ll_fwd_insert(pss, pss_list, vhd->pss_list);
            pss->tail = lws_ring_get_oldest_tail(vhd->ring);
        } else {
            pss->ring =
                lws_ring_create(sizeof(struct msg), ECHO_RING, destroy_msg);
            if (!pss->ring)
                return 1;
        }
        break;
    case LWS_CALLBACK_CLOSED:
        if (broadcast_mode) {
            lws_ll_fwd_remove(struct pss, pss_list, pss, vhd->pss_list);
        } else if (pss->ring) {
            lws_ring_destroy(pss->ring);
        }
        free(pss->rx);
        pss->rx = NULL;
        break;
    case LWS_CALLBACK_RECEIVE: {
        int done = take_fragment(wsi, pss, in, len);
        if (done < 0)
            return -1;
        if (!done)
            break;
        struct msg m = finished_message(wsi, pss);
        struct lws_ring *ring = broadcast_mode ? vhd->ring : pss->ring;
        if (!lws_ring_insert(ring, &m, 1)) {
            /* Full: a well-behaved client of these benchmarks never gets
             * here; drop rather than grow without bound, as lws's own
             * examples do. */
            destroy_msg(&m);
            lwsl_warn("ring full, message dropped\n");
            break;
        }
        if (broadcast_mode) {
            lws_callback_on_writable_all_protocol(vhd->context, vhd->protocol);
        } else {
            lws_callback_on_writable(wsi);
            if (lws_ring_get_count_free_elements(ring) < 2) {
                lws_rx_flow_control(wsi, 0);
                pss->flow_off = 1;
            }
        }
        break;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (broadcast_mode) {
            const struct msg *m = lws_ring_get_element(vhd->ring, &pss->tail);
            if (!m)
                break;
            if (write_msg(wsi, m) < 0)
                return -1;
            lws_ring_consume_and_update_oldest_tail(
                vhd->ring, struct pss, &pss->tail, 1, vhd->pss_list, tail,
                pss_list);
            if (lws_ring_get_element(vhd->ring, &pss->tail))
                lws_callback_on_writable(wsi);
        } else {
            const struct msg *m = lws_ring_get_element(pss->ring, &pss->tail);
            if (!m)
                break;
            if (write_msg(wsi, m) < 0)
                return -1;
            lws_ring_consume_single_tail(pss->ring, &pss->tail, 1);
            if (lws_ring_get_element(pss->ring, &pss->tail))
                lws_callback_on_writable(wsi);
            if (pss->flow_off &&
                lws_ring_get_count_free_elements(pss->ring) > ECHO_RING / 2) {
                lws_rx_flow_control(wsi, 1);
                pss->flow_off = 0;
            }
        }
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"bench", callback, sizeof(struct pss), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    if (context)
        lws_cancel_service(context);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 9003;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            broadcast_mode = strcmp(argv[++i], "broadcast") == 0;
        } else {
            fprintf(stderr, "usage: lws_server [--host ADDR] [--port N] "
                            "[--mode echo|broadcast]\n");
            return 2;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = port;
    info.iface = host;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    context = lws_create_context(&info);
    if (!context) {
        fprintf(stderr, "lws_server: cannot listen on %s:%d\n", host, port);
        return 1;
    }
    printf("lws_server: listening on ws://%s:%d/ (%s, libwebsockets %s)\n",
           host, port, broadcast_mode ? "broadcast" : "echo",
           lws_get_library_version());
    fflush(stdout);
    while (!interrupted && lws_service(context, 0) >= 0)
        ;
    lws_context_destroy(context);
    return 0;
}
