/* The wiping text buffer of include/p11enroll/sbuf.h, shared by the network
 * vaults' request bodies. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "p11enroll/sbuf.h"

void p11e_sbuf_add(p11e_sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *grown = malloc(cap);

		if (grown == NULL) {
			b->failed = 1;
			return;
		}
		if (b->p != NULL) {
			memcpy(grown, b->p, b->len);
			OPENSSL_cleanse(b->p, b->cap); /* it may hold a secret */
			free(b->p);
		}
		b->p = grown;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void p11e_sbuf_str(p11e_sbuf *b, const char *s)
{
	p11e_sbuf_add(b, s, strlen(s));
}

void p11e_sbuf_json_n(p11e_sbuf *b, const char *s, size_t n)
{
	p11e_sbuf_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			p11e_sbuf_add(b, "\\", 1);
		p11e_sbuf_add(b, s + i, 1);
	}
	p11e_sbuf_add(b, "\"", 1);
}

void p11e_sbuf_json(p11e_sbuf *b, const char *s)
{
	p11e_sbuf_json_n(b, s, strlen(s));
}

void p11e_sbuf_free(p11e_sbuf *b)
{
	if (b->p != NULL) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

int p11e_printable_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}
