/*
 * src/server_stream.h - what server_topics.c and server_stream.c tell each
 * other about a topic's stream (internal; wsio/stream.h is the public
 * side).
 */
#ifndef WSIO_TOPIC_STREAM_H
#define WSIO_TOPIC_STREAM_H

#include "wsio/stream.h"

/* server_topics.c: queue an encoded frame on the subscribers of topic
 * name (NUL-terminated; NULL: every open connection) under the topic's
 * policy. Returns the deliveries queued. */
int wsio__server_send_frame(wsio_server *srv, const char *name,
                            wsio_rcbuf *frame);

/* server_topics.c: give topic name (NUL-terminated, checked) of srv the stream
 * st, so that wsio_server_publish on it goes through the stream; st NULL
 * takes it back. Returns 0, or WSIO_EINVAL (the topic has a stream
 * already), WSIO_ENOMEM. */
int wsio__server_set_stream(wsio_server *srv, const char *name,
                            wsio_stream *st);

/* server_stream.c: st's server is being freed; st stays until
 * wsio_stream_free but publishes no more. */
void wsio__stream_server_gone(wsio_stream *st);

#endif /* WSIO_TOPIC_STREAM_H */
