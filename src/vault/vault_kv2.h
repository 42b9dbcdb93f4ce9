/* Private to the vault-kv2 backend (src/vault/vault_kv2.c): the parsers of
 * Vault's answers (vault_kv2_parse.c), each taking one answer's bytes, so
 * that tests and the fuzzer reach them without a server. Secrets a parser
 * sees are wiped from json-c's objects before they are freed. */
#ifndef P11ENROLL_VAULT_KV2_H
#define P11ENROLL_VAULT_KV2_H

#include <stddef.h>

/* The first of Vault's {"errors":["..."]} on one line (cleaned), or "". */
void kv2_parse_error(const char *body, size_t len, char *out, size_t cap);

/* A KV v2 read, {"data":{"data":{"secret":"..."}}} (or "secret_base64"):
 * *out malloc'd with a NUL after its *out_len bytes; free it with
 * p11e_secret_free. 0; -1 no secret field (or not a string); -2 not base64;
 * -3 no memory. */
int kv2_parse_secret(const char *body, size_t len, unsigned char **out, size_t *out_len);

/* A LIST answer, {"data":{"keys":[...]}}: the entries that are secrets
 * (strings not ending in '/'), *names malloc'd (each too). 0; -1 no
 * data.keys list; -3 no memory. */
int kv2_parse_list(const char *body, size_t len, char ***names, size_t *n);

/* An AppRole login answer, {"auth":{"client_token":"..."}}: the token
 * (malloc'd, a secret: p11e_secret_free), fit for a header line. 0 or -1. */
int kv2_parse_login(const char *body, size_t len, char **token);

/* A metadata read, {"data":{"custom_metadata":{...}|null}}: the escrow
 * metadata p11enroll keeps there (vault_meta.h's fields). 0; -1 no data. */
#include "p11enroll/vault.h"
int kv2_parse_meta(const char *body, size_t len, p11e_vault_meta *meta);

#endif
