/* A growing text buffer for request bodies that may hold a secret (a
 * password, a token): every copy it leaves behind is wiped, and so is the
 * buffer when freed. An allocation failure is sticky: check b->failed once
 * at the end instead of after each call. */
#ifndef P11ENROLL_SBUF_H
#define P11ENROLL_SBUF_H

#include <stddef.h>

typedef struct p11e_sbuf {
	char *p; /* NUL-terminated once anything was added */
	size_t len, cap;
	int failed;
} p11e_sbuf;

void p11e_sbuf_add(p11e_sbuf *b, const char *s, size_t n);
void p11e_sbuf_str(p11e_sbuf *b, const char *s);
/* s (n bytes, or up to its NUL) as a JSON string; only for printable ASCII,
 * which the callers check with p11e_printable_ascii. */
void p11e_sbuf_json_n(p11e_sbuf *b, const char *s, size_t n);
void p11e_sbuf_json(p11e_sbuf *b, const char *s);
void p11e_sbuf_free(p11e_sbuf *b);

/* Whether all n bytes are printable ASCII (0x20 to 0x7e). */
int p11e_printable_ascii(const char *s, size_t n);

#endif
