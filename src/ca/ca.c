/* The CA backend registry: the config's "type" picks a p11e_ca_ops table,
 * and every call goes through it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/ca.h"

struct p11e_ca {
	const p11e_ca_ops *ops;
	void *state;
};

/* One entry per backend file. */
static const p11e_ca_ops *const backends[] = {
    &p11e_ca_local_ops,	   &p11e_ca_cfssl_ops, &p11e_ca_acme_ops,
    &p11e_ca_digicert_ops, &p11e_ca_scep_ops,
    &p11e_ca_certsrv_ops,
    &p11e_ca_cmp_ops,
    &p11e_ca_est_ops,
};

#define N_BACKENDS (sizeof(backends) / sizeof(backends[0]))

static void known_types(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_BACKENDS && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", backends[i]->type);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

p11e_rc p11e_ca_open(const struct json_object *conf, p11e_ca **out, p11e_err *err)
{
	return p11e_ca_open_in(conf, NULL, out, err);
}

p11e_rc p11e_ca_open_in(const struct json_object *conf, struct p11e_store *store, p11e_ca **out,
			p11e_err *err)
{
	struct json_object *jt = NULL;
	const char *type = NULL;
	char known[128];
	p11e_ca *ca;
	p11e_rc rc;

	*out = NULL;
	if (conf != NULL && json_object_is_type(conf, json_type_object) &&
	    json_object_object_get_ex(conf, "type", &jt) &&
	    json_object_is_type(jt, json_type_string))
		type = json_object_get_string(jt);
	for (size_t i = 0; type != NULL && i < N_BACKENDS; i++) {
		if (strcmp(type, backends[i]->type) != 0)
			continue;
		if ((ca = calloc(1, sizeof(*ca))) == NULL)
			return p11e_errf(err, P11E_FAIL, "out of memory");
		ca->ops = backends[i];
		if (store != NULL && ca->ops->open_in != NULL)
			rc = ca->ops->open_in(conf, store, &ca->state, err);
		else
			rc = ca->ops->open(conf, &ca->state, err);
		if (rc != P11E_OK) {
			free(ca);
			return rc;
		}
		*out = ca;
		return P11E_OK;
	}
	known_types(known, sizeof(known));
	return p11e_errf(err, P11E_CONFIG, "ca: unknown type '%.40s' (known: %s)", type ? type : "",
			 known);
}

p11e_rc p11e_ca_submit(p11e_ca *ca, X509_REQ *csr, const p11e_profile *profile,
		       const char *request_key, p11e_ca_result *out, p11e_err *err)
{
	memset(out, 0, sizeof(*out));
	return ca->ops->submit(ca->state, csr, profile, request_key, out, err);
}

p11e_rc p11e_ca_poll(p11e_ca *ca, const char *request_id, const p11e_profile *profile,
		     p11e_ca_result *out, p11e_err *err)
{
	memset(out, 0, sizeof(*out));
	return ca->ops->poll(ca->state, request_id, profile, out, err);
}

p11e_rc p11e_ca_chain(p11e_ca *ca, STACK_OF(X509) * *out, p11e_err *err)
{
	*out = NULL;
	return ca->ops->chain(ca->state, out, err);
}

int p11e_ca_needs_requester(const p11e_ca *ca)
{
	return ca->ops->set_requester != NULL;
}

p11e_rc p11e_ca_set_requester(p11e_ca *ca, EVP_PKEY *key, const char *identity, p11e_err *err)
{
	if (ca->ops->set_requester == NULL)
		return P11E_OK;
	return ca->ops->set_requester(ca->state, key, identity, err);
}

p11e_rc p11e_ca_revoke(p11e_ca *ca, const char *serial, X509 *cert, int reason, int *already,
		       p11e_err *err)
{
	*already = 0;
	if (ca->ops->revoke == NULL && ca->ops->revoke_none != NULL)
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "ca: %s; revoke at the CA itself (p11enroll cannot)",
				 ca->ops->revoke_none);
	if (ca->ops->revoke == NULL)
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "ca: a %s CA cannot revoke through p11enroll; revoke at the CA "
				 "itself",
				 ca->ops->type);
	return ca->ops->revoke(ca->state, serial, cert, reason, already, err);
}

int p11e_ca_can_revoke(const p11e_ca *ca)
{
	return ca->ops->revoke != NULL;
}

p11e_rc p11e_ca_unhold(p11e_ca *ca, const char *serial, int *lifted, p11e_err *err)
{
	*lifted = 0;
	if (ca->ops->unhold == NULL)
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "ca: a %s CA cannot lift a certificateHold through p11enroll",
				 ca->ops->type);
	return ca->ops->unhold(ca->state, serial, lifted, err);
}

int p11e_ca_can_hold(const p11e_ca *ca)
{
	return ca->ops->revoke != NULL && ca->ops->unhold != NULL;
}

const char *p11e_ca_type(const p11e_ca *ca)
{
	return ca->ops->type;
}

p11e_rc p11e_ca_crl(p11e_ca *ca, int days, X509_CRL **out, p11e_err *err)
{
	*out = NULL;
	if (ca->ops->crl == NULL)
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "ca: a %s CA publishes its own CRLs; p11enroll makes them only "
				 "for the embedded (local) CA",
				 ca->ops->type);
	return ca->ops->crl(ca->state, days, out, err);
}

p11e_rc p11e_ca_set_renewal(p11e_ca *ca, const p11e_ca_renewal *renewal, p11e_err *err)
{
	if (ca->ops->set_renewal == NULL)
		return P11E_OK;
	return ca->ops->set_renewal(ca->state, renewal, err);
}

p11e_rc p11e_ca_renewal_window(p11e_ca *ca, X509 *cert, long long *start, long long *end,
			       p11e_err *err)
{
	*start = *end = 0;
	if (ca->ops->renewal_window == NULL)
		return P11E_NOT_FOUND;
	return ca->ops->renewal_window(ca->state, cert, start, end, err);
}

void p11e_ca_close(p11e_ca *ca)
{
	if (ca == NULL)
		return;
	if (ca->ops->close != NULL)
		ca->ops->close(ca->state);
	free(ca);
}

void p11e_ca_result_clear(p11e_ca_result *r)
{
	if (r == NULL)
		return;
	X509_free(r->cert);
	sk_X509_pop_free(r->chain, X509_free);
	memset(r, 0, sizeof(*r));
}

const p11e_ca_ops *p11e_ca_backend(size_t i)
{
	return i < N_BACKENDS ? backends[i] : NULL;
}
