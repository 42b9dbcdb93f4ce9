/* The publisher registry: the config's "publishers" entry names a type, its
 * p11e_publish_ops table does the work (include/p11enroll/publish.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/profile.h"
#include "p11enroll/publish.h"

extern const p11e_publish_ops p11e_publish_ldap_ops; /* publish_ldap.c */

struct p11e_publisher {
	const p11e_publish_ops *ops;
	void *state;
};

/* One entry per backend file. */
static const p11e_publish_ops *const backends[] = {&p11e_publish_ldap_ops};
#define N_BACKENDS (sizeof(backends) / sizeof(backends[0]))

const p11e_publish_ops *p11e_publish_backend(size_t i)
{
	return i < N_BACKENDS ? backends[i] : NULL;
}

p11e_rc p11e_publisher_open(const p11e_config *cfg, const char *name, p11e_publisher **out,
			    p11e_err *err)
{
	json_object *pubs, *conf = NULL, *type;
	p11e_publisher *p;
	p11e_rc rc;

	*out = NULL;
	if (cfg->root == NULL || !json_object_object_get_ex(cfg->root, "publishers", &pubs) ||
	    !json_object_object_get_ex(pubs, name, &conf))
		return p11e_errf(err, P11E_CONFIG,
				 "publisher '%.60s' is not defined in the config's \"publishers\"",
				 name);
	if (!json_object_object_get_ex(conf, "type", &type))
		return p11e_errf(err, P11E_CONFIG, "publishers.%.60s needs a \"type\"", name);
	for (size_t i = 0; i < N_BACKENDS; i++) {
		if (strcmp(json_object_get_string(type), backends[i]->type) != 0)
			continue;
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return p11e_errf(err, P11E_FAIL, "out of memory");
		p->ops = backends[i];
		if ((rc = p->ops->open(conf, name, &p->state, err)) != P11E_OK) {
			free(p);
			return rc;
		}
		*out = p;
		return P11E_OK;
	}
	return p11e_errf(err, P11E_CONFIG, "publishers.%.60s.type: unknown (known: ldap)", name);
}

p11e_rc p11e_publisher_publish(p11e_publisher *p, const char *address, X509 *cert, int *already,
			       p11e_err *err)
{
	*already = 0;
	return p->ops->publish(p->state, address, cert, already, err);
}

p11e_rc p11e_publisher_unpublish(p11e_publisher *p, const char *address, X509 *cert, int *already,
				 p11e_err *err)
{
	*already = 0;
	return p->ops->unpublish(p->state, address, cert, already, err);
}

p11e_rc p11e_publisher_lookup(p11e_publisher *p, const char *address, struct p11e_dir_identity *out,
			      p11e_err *err)
{
	if (p->ops->lookup == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "identity_from: a publisher of type %s has no directory to look "
				 "people up in",
				 p->ops->type);
	return p->ops->lookup(p->state, address, out, err);
}

void p11e_publisher_close(p11e_publisher *p)
{
	if (p == NULL)
		return;
	if (p->ops->close != NULL)
		p->ops->close(p->state);
	free(p);
}

int p11e_publish_keeps_encryption_history(const p11e_config *cfg, const char *name)
{
	json_object *pubs, *conf, *v;

	if (cfg->root == NULL || !json_object_object_get_ex(cfg->root, "publishers", &pubs) ||
	    !json_object_object_get_ex(pubs, name, &conf))
		return -1;
	if (!json_object_object_get_ex(conf, "keep_encryption_history", &v))
		return 1;
	return json_object_get_boolean(v) ? 1 : 0;
}

/* Appends name to the space-separated list in buf. */
static int append_name(char **buf, const char *name)
{
	size_t have = *buf ? strlen(*buf) : 0, add = strlen(name);
	char *grown = realloc(*buf, have + add + 2);

	if (grown == NULL)
		return -1;
	if (have > 0)
		grown[have++] = ' ';
	memcpy(grown + have, name, add + 1);
	*buf = grown;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether a built-in profile name is one of the S/MIME ones, which publish
 * everywhere by default: a directory is where mail clients find the
 * certificate to encrypt to. */
static int smime_builtin(const char *base)
{
	return strcmp(base, "smime") == 0 || strcmp(base, "smime-sign") == 0 ||
	       strcmp(base, "smime-encrypt") == 0;
}

p11e_rc p11e_publish_targets(const p11e_config *cfg, const char *profile, char **out, p11e_err *err)
{
	json_object *profiles, *def = NULL, *list = NULL, *pubs = NULL, *base;
	const char *base_name = profile;
	const char **names = NULL;
	size_t n = 0;
	char *buf = NULL;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (profile == NULL)
		profile = base_name = "";
	if (cfg->root != NULL && json_object_object_get_ex(cfg->root, "profiles", &profiles) &&
	    json_object_object_get_ex(profiles, profile, &def)) {
		json_object_object_get_ex(def, "publish", &list);
		base_name = json_object_object_get_ex(def, "base", &base)
				? json_object_get_string(base)
				: "smime"; /* a profile's base defaults to smime */
	}
	if (list != NULL) {
		for (size_t i = 0; i < json_object_array_length(list); i++)
			if (append_name(&buf, json_object_get_string(
						  json_object_array_get_idx(list, i))) != 0)
				goto oom;
	} else if (smime_builtin(base_name) && cfg->root != NULL &&
		   json_object_object_get_ex(cfg->root, "publishers", &pubs)) {
		names = calloc((size_t)json_object_object_length(pubs) + 1, sizeof(*names));
		if (names == NULL)
			goto oom;
		json_object_object_foreach(pubs, name, entry)
		{
			(void)entry;
			names[n++] = name;
		}
		qsort(names, n, sizeof(*names), cmp_names);
		for (size_t i = 0; i < n; i++)
			if (append_name(&buf, names[i]) != 0)
				goto oom;
	}
	if (buf == NULL && (buf = strdup("")) == NULL)
		goto oom;
	*out = buf;
	buf = NULL;
	goto out;
oom:
	rc = p11e_errf(err, P11E_FAIL, "out of memory");
out:
	free(names);
	free(buf);
	return rc;
}
