/*
 * src/common_list.h - the intrusive doubly linked list every hand-written list
 * of the core uses: a wsio__link embedded in the owner, a head that points to
 * the first link (NULL when empty) and WSIO__LIST_ENTRY back to the owner.
 * Pushes go to the front, so a walk sees the newest first.
 */
#ifndef WSIO_LIST_H
#define WSIO_LIST_H

#include "internal.h"

typedef struct wsio__link wsio__link;
struct wsio__link {
    wsio__link *prev, *next;
};

/* The owner of type whose member is link, or NULL for a NULL link (so
 * heads and next pointers convert as they are). */
#define WSIO__LIST_ENTRY(link, type, member)                                   \
    ((link) ? WSIO__CONTAINER_OF(link, type, member) : (type *)NULL)

static inline void wsio__list_push(wsio__link **head, wsio__link *l)
{
    l->prev = NULL;
    l->next = *head;
    if (l->next)
        l->next->prev = l;
    *head = l;
}

/* Whether l is on the list at head (links are cleared when taken off). */
static inline int wsio__list_linked(wsio__link *const *head,
                                    const wsio__link *l)
{
    return l->prev != NULL || *head == l;
}

/* Take l off the list at head; l must be on it. */
static inline void wsio__list_remove(wsio__link **head, wsio__link *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        *head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

#endif /* WSIO_LIST_H */
