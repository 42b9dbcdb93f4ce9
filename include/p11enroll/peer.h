/* What a network peer (a CA, a vault) sends is hostile until checked: the
 * helpers every backend uses before a peer's words or numbers are used. */
#ifndef P11ENROLL_PEER_H
#define P11ENROLL_PEER_H

#include <stddef.h>

/* The longest wait a peer may ask for (Retry-After, a poll interval): one
 * day. Anything longer is taken as a day, so that "seconds * 1000" never
 * overflows and a huge value never becomes a negative one (a tight loop). */
#define P11E_PEER_WAIT_MAX_S 86400L

/* A peer's requested wait in seconds, clamped to 0..P11E_PEER_WAIT_MAX_S. */
long p11e_peer_wait_s(long seconds);

/* Makes a peer's text (already copied into s) safe for a terminal, a log
 * line and a one-line error: line breaks and tabs become spaces, every
 * other control character (C0, DEL, C1 as raw bytes or as UTF-8, bytes that
 * are not UTF-8) becomes '?', so no escape sequence and no line break
 * survives. Returns s. */
char *p11e_peer_clean(char *s);

/* The JSON object a peer sent in body (len bytes, no NUL needed), or NULL
 * when it is not exactly one JSON object (an array, a number, trailing
 * bytes, nesting deeper than json-c's default). A new reference. */
struct json_object *p11e_peer_json_object(const char *body, size_t len);

/* snprintf of "%s" of a peer's text into out (cut to fit), then cleaned. */
void p11e_peer_copy(char *out, size_t len, const char *peer_text);

#endif
