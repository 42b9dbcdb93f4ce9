/* What a card's moves do to its certificates (include/p11enroll/card.h,
 * docs/cards.md): suspend and lost put every valid certificate on the card
 * on hold (certificateHold), resume and found lift the holds, lost --revoke
 * and terminate revoke them for good. Only the current generation of each
 * identity whose key went onto the card counts: an earlier one was
 * superseded or revoked when its successor came.
 *
 * A hold needs a CA that can lift it again (ca.h's unhold: the embedded
 * CA): a card with a certificate from any other is not suspended at all,
 * nothing held, and the message says to use `card lost --revoke` or revoke.
 * Each CA call is idempotent (a second hold or lift is "already"), so a
 * crash in the middle is finished by the rerun; the card's document lists
 * what is held ("held") once the move is saved. A held certificate is
 * withdrawn from the publishers its record names (the directory mail
 * clients find encryption certificates in), and published again when the
 * hold is lifted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "core/card_int.h"
#include "p11enroll/ca.h"
#include "p11enroll/clock.h"
#include "p11enroll/lock.h"
#include "p11enroll/pem.h"
#include "p11enroll/publish.h"
#include "p11enroll/record.h"
#include "p11enroll/revoke.h"

/* One certificate of the card: the identity's current generation. */
typedef struct card_cert {
	char *identity;
	char *ca;
	char *published; /* the publishers it is in (the record's), or NULL */
	X509 *cert;
	int generation;
	char serial[65];
} card_cert;

static void certs_free(card_cert *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].identity);
		free(c[i].ca);
		free(c[i].published);
		X509_free(c[i].cert);
	}
	free(c);
}

/* The valid certificates on card serial (not revoked, not retired, not
 * expired). */
static p11e_rc card_certs(const p11e_config *cfg, const char *serial, card_cert **out, size_t *n,
			  p11e_err *err)
{
	p11e_record *rs = NULL;
	size_t nr = 0;
	p11e_rc rc = p11e_record_list(cfg->store, &rs, &nr, err);

	*out = NULL;
	*n = 0;
	if (rc != P11E_OK)
		return rc;
	if (nr > 0 && (*out = calloc(nr, sizeof(**out))) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	for (size_t i = 0; rc == P11E_OK && i < nr; i++) {
		p11e_record *r = &rs[i];
		X509 *x;
		card_cert *c;

		if (r->token_serial == NULL || strcmp(r->token_serial, serial) != 0 ||
		    r->cert_pem == NULL || r->revoked_reason != NULL || r->retired != NULL ||
		    r->ca == NULL || (x = p11e_x509_from_pem(r->cert_pem)) == NULL)
			continue;
		c = &(*out)[*n];
		if (X509_cmp_time(X509_get0_notAfter(x), NULL) > 0 &&
		    p11e_cert_serial("certificate", x, c->serial, sizeof(c->serial), err) ==
			P11E_OK) {
			c->identity = strdup(r->identity);
			c->ca = strdup(r->ca);
			c->published = r->published != NULL ? strdup(r->published) : NULL;
			c->generation = p11e_record_generation(r);
			c->cert = x;
			x = NULL;
			if (c->identity == NULL || c->ca == NULL ||
			    (r->published != NULL && c->published == NULL))
				rc = p11e_errf(err, P11E_FAIL, "out of memory");
			(*n)++;
		}
		X509_free(x);
	}
	p11e_records_free(rs, nr);
	if (rc != P11E_OK) {
		certs_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* Withdraws (remove) or publishes again a held certificate where the
 * record says it is published. A directory that fails does not undo the
 * hold: a warning, and the entry says it was not withdrawn (resume then
 * leaves it be). 1 when done. */
static int publish(const p11e_config *cfg, const char *serial, const char *identity,
		   const char *names, X509 *cert, int remove)
{
	p11e_publish_result res;
	p11e_err perr = {0};

	if (names == NULL || names[0] == '\0')
		return 0;
	if (p11e_publish_cert(cfg, names, identity, cert, remove, &res, &perr) != P11E_OK) {
		fprintf(stderr,
			"p11enroll card %s: %s: %s; `p11enroll publish %s%s` when the directory "
			"is back\n",
			serial, identity, perr.msg, identity, remove ? " --remove" : "");
		return 0;
	}
	return 1;
}

static p11e_rc hold_all(const p11e_config *cfg, json_object *doc, p11e_err *err)
{
	const char *serial = card_str(doc, "serial");
	card_cert *c = NULL;
	size_t n = 0;
	json_object *held = json_object_new_array();
	p11e_rc rc = card_certs(cfg, serial, &c, &n, err);

	/* Every CA asked first: a card is held whole or not at all. */
	for (size_t i = 0; rc == P11E_OK && i < n; i++) {
		p11e_ca *ca = NULL;
		if ((rc = p11e_config_open_ca(cfg, c[i].ca, &ca, err)) == P11E_OK &&
		    !p11e_ca_can_hold(ca))
			rc = p11e_errf(err, P11E_UNSUPPORTED,
				       "card %s: %s's certificate comes from a %s CA, which cannot "
				       "put it on hold and lift it; nothing was held (use card "
				       "lost --revoke, or revoke)",
				       serial, c[i].identity, p11e_ca_type(ca));
		p11e_ca_close(ca);
	}
	for (size_t i = 0; rc == P11E_OK && i < n; i++) {
		p11e_ca *ca = NULL;
		int already = 0;
		json_object *e;

		if ((rc = p11e_config_open_ca(cfg, c[i].ca, &ca, err)) == P11E_OK)
			rc = p11e_ca_revoke(ca, c[i].serial, NULL, P11E_REASON_CERTIFICATE_HOLD,
					    &already, err);
		p11e_ca_close(ca);
		if (rc != P11E_OK)
			break;
		card_crash_point("card-cert-held");
		e = json_object_new_object();
		/* Withdrawn from the directories: a held certificate is not one to
		 * encrypt to. */
		if (publish(cfg, serial, c[i].identity, c[i].published, c[i].cert, 1))
			json_object_object_add(e, "withdrawn",
					       json_object_new_string(c[i].published));
		json_object_object_add(e, "identity", json_object_new_string(c[i].identity));
		json_object_object_add(e, "generation", json_object_new_int(c[i].generation));
		json_object_object_add(e, "serial", json_object_new_string(c[i].serial));
		json_object_object_add(e, "ca", json_object_new_string(c[i].ca));
		json_object_array_add(held, e);
	}
	if (rc == P11E_OK)
		json_object_object_add(doc, "held", json_object_get(held));
	json_object_put(held);
	certs_free(c, n);
	return rc;
}

/* A lifted certificate published again where it was withdrawn from, if
 * its record still has it (a renewal in between published its successor). */
static void republish(const p11e_config *cfg, const char *serial, json_object *e)
{
	p11e_record rec;
	p11e_err lerr = {0};
	char cert_serial[65];
	X509 *x = NULL;

	memset(&rec, 0, sizeof(rec));
	if (p11e_record_load(cfg->store, card_str(e, "identity"), &rec, &lerr) == P11E_OK &&
	    rec.cert_pem != NULL && rec.revoked_reason == NULL &&
	    (x = p11e_x509_from_pem(rec.cert_pem)) != NULL &&
	    p11e_cert_serial("certificate", x, cert_serial, sizeof(cert_serial), &lerr) ==
		P11E_OK &&
	    strcmp(cert_serial, card_str(e, "serial")) == 0)
		publish(cfg, serial, rec.identity, card_str(e, "withdrawn"), x, 0);
	X509_free(x);
	p11e_record_clear(&rec);
}

static p11e_rc lift_all(const p11e_config *cfg, json_object *doc, p11e_err *err)
{
	const char *serial = card_str(doc, "serial");
	json_object *held;
	p11e_rc rc = P11E_OK;

	if (!json_object_object_get_ex(doc, "held", &held) ||
	    !json_object_is_type(held, json_type_array))
		return P11E_OK;
	for (size_t i = 0; rc == P11E_OK && i < json_object_array_length(held); i++) {
		json_object *e = json_object_array_get_idx(held, i);
		p11e_ca *ca = NULL;
		int lifted = 0;

		if ((rc = p11e_config_open_ca(cfg, card_str(e, "ca"), &ca, err)) == P11E_OK)
			rc = p11e_ca_unhold(ca, card_str(e, "serial"), &lifted, err);
		p11e_ca_close(ca);
		/* Revoked for good meanwhile (lost --revoke, revoke): stays so. */
		if (rc == P11E_USAGE) {
			fprintf(stderr, "p11enroll card %s: %s: %s\n", serial,
				card_str(e, "identity"), err->msg);
			rc = P11E_OK;
		} else if (rc == P11E_OK && card_str(e, "withdrawn")[0] != '\0') {
			republish(cfg, serial, e);
		}
		card_crash_point("card-cert-lifted");
	}
	if (rc == P11E_OK)
		json_object_object_del(doc, "held");
	return rc;
}

/* Every valid certificate on the card revoked for reason, each under its
 * identity's lock, its record saying so (revoke.h). */
static p11e_rc revoke_all(const p11e_config *cfg, json_object *doc, int reason, p11e_err *err)
{
	const char *serial = card_str(doc, "serial");
	card_cert *c = NULL;
	size_t n = 0;
	p11e_rc rc = card_certs(cfg, serial, &c, &n, err);
	json_object *held;

	/* What is on hold is revoked too: its record still says valid. */
	for (size_t i = 0; rc == P11E_OK && i < n; i++) {
		p11e_revoke_params rp = {.identity = c[i].identity, .reason = reason};
		p11e_revoke_result res;
		rc = p11e_revoke_identity(cfg, &rp, &res, err);
		card_crash_point("card-cert-revoked");
	}
	if (rc == P11E_OK && json_object_object_get_ex(doc, "held", &held))
		json_object_object_del(doc, "held");
	certs_free(c, n);
	return rc;
}

p11e_rc card_certificates_work(const p11e_config *cfg, const char *move, int revoke,
			       json_object *doc, p11e_err *err)
{
	if (strcmp(move, "suspend") == 0 || (strcmp(move, "lost") == 0 && !revoke))
		return hold_all(cfg, doc, err);
	if (strcmp(move, "lost") == 0)
		return revoke_all(cfg, doc, P11E_REASON_KEY_COMPROMISE, err);
	if (strcmp(move, "resume") == 0 || strcmp(move, "found") == 0)
		return lift_all(cfg, doc, err);
	if (strcmp(move, "terminate") == 0)
		return revoke_all(cfg, doc,
				  revoke > 0 ? revoke : P11E_REASON_CESSATION_OF_OPERATION, err);
	return P11E_OK;
}
