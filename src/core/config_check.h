/* The config's strictness, apart from config.c: duplicate keys, and unknown
 * keys at the top, in every CA and in the vault (each against its backend's
 * own list, p11e_ca_ops/p11e_vault_ops config_keys). */
#ifndef P11ENROLL_CONFIG_CHECK_H
#define P11ENROLL_CONFIG_CHECK_H

#include <stddef.h>
#include "p11enroll/error.h"

struct json_object;

/* text (len bytes) is the file as read, root what json-c made of it; file
 * names it in messages. P11E_CONFIG naming the key's full path. */
p11e_rc p11e_config_check_strict(const char *file, const char *text, size_t len,
				 struct json_object *root, p11e_err *err);

#endif
