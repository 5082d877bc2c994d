/*
 * tools/cat_resume.c - wsio-cat --resume: remember the last id seen per
 * topic and ask for what follows it on the next connection
 * (docs/resume.md).
 *
 * It reads the line format of examples/feed.c, "<topic> <id> <data>": the
 * URL names the topics as topic=NAME (or topic=NAME:ID), and each
 * reconnect's URL carries topic=NAME:<last id seen> for every topic that
 * sent something. Messages of another shape are printed and not read.
 */
#include <stdio.h>
#include <string.h>

#include "cat.h"

static cat_topic_id *find(cat_resume *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->n; i++)
        if (strlen(r->t[i].name) == len && !memcmp(r->t[i].name, name, len))
            return &r->t[i];
    return NULL;
}

void cat_resume_seen(cat_resume *r, const char *msg, size_t len)
{
    const char *sp = memchr(msg, ' ', len);
    if (!sp || sp == msg || (size_t)(sp - msg) >= sizeof r->t[0].name)
        return;
    size_t nlen = (size_t)(sp - msg);
    uint64_t id = 0;
    size_t i = nlen + 1, digits = 0;
    for (; i < len && msg[i] >= '0' && msg[i] <= '9' && digits < 19;
         i++, digits++)
        id = id * 10 + (uint64_t)(msg[i] - '0');
    if (!digits || (i < len && msg[i] != ' '))
        return;
    cat_topic_id *t = find(r, msg, nlen);
    if (!t) {
        if (r->n == CAT_RESUME_TOPICS)
            return;
        t = &r->t[r->n++];
        memcpy(t->name, msg, nlen);
        t->name[nlen] = '\0';
    }
    t->last = id;
}

/* Append s[0..len) to out[*at..cap); 0, or -1 when it does not fit. */
static int add(char *out, size_t cap, size_t *at, const char *s, size_t len)
{
    if (len >= cap - *at)
        return -1;
    memcpy(out + *at, s, len);
    *at += len;
    out[*at] = '\0';
    return 0;
}

int cat_resume_url(const cat_resume *r, const char *url, char *out, size_t cap)
{
    const char *q = strchr(url, '?');
    size_t at = 0;
    out[0] = '\0';
    if (!q)
        return add(out, cap, &at, url, strlen(url));
    if (add(out, cap, &at, url, (size_t)(q - url) + 1))
        return -1;
    const char *p = q + 1;
    while (*p) {
        size_t n = strcspn(p, "&");
        const cat_topic_id *t = NULL;
        if (n > 6 && !memcmp(p, "topic=", 6)) {
            size_t nlen = strcspn(p + 6, ":&");
            t = find((cat_resume *)r, p + 6, nlen);
        }
        char param[96];
        int pn = t ? snprintf(param, sizeof param, "topic=%s:%llu", t->name,
                              (unsigned long long)t->last)
                   : 0;
        if (t ? add(out, cap, &at, param, (size_t)pn)
              : add(out, cap, &at, p, n))
            return -1;
        p += n;
        if (*p == '&') {
            if (add(out, cap, &at, "&", 1))
                return -1;
            p++;
        }
    }
    return 0;
}
