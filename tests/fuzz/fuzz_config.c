/* Fuzz harness: the config loader (src/core/config.c, config_check.c) from a
 * buffer, and the duplicate-key scanner (src/util/json_dup.c) on raw bytes,
 * which the loader only shows texts json-c accepted. No file is read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/conf.h"
#include "p11enroll/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p11e_config c;
	p11e_err err;
	char path[64];

	p11e_json_duplicate_key((const char *)data, size, path, sizeof(path));
	if (p11e_config_parse("/fuzz/config.json", (const char *)data, size, &c, &err) != P11E_OK)
		return 0;
	{
		/* What commands do next with a loaded config: each CA entry. */
		json_object *cas = NULL;
		if (json_object_object_get_ex(c.root, "cas", &cas)) {
			json_object_object_foreach(cas, name, def)
			{
				json_object *ca = NULL;
				(void)def;
				if (p11e_config_ca(&c, name, &ca, &err) == P11E_OK)
					json_object_put(ca);
			}
		}
	}
	p11e_config_clear(&c);
	return 0;
}
