/* Trust changes without a restart: `serve` calls p11e_portal_reload on
 * SIGHUP and every 2 seconds (cmd_serve.c); it rebuilds the SSL_CTX (TLS
 * certificate and key) and the client store (client_cas) when the files
 * changed. The new pair is built whole, then swapped in under trust_mu; each
 * user takes a reference under the lock (SSL_new holds the SSL_CTX, a
 * request's verification holds the store), so whatever is in flight keeps a
 * consistent state and the old ones are freed with their last user. A
 * failed build changes nothing. Without SIGHUP a change is taken once the
 * files are the same at two looks in a row (within 4 s). */
#include <string.h>
#include <sys/stat.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include "portal_int.h"

SSL *portal_tls_new_ssl(struct p11e_portal *p)
{
	SSL_CTX *ctx;
	SSL *ssl;

	pthread_mutex_lock(&p->trust_mu);
	ctx = p->ssl;
	if (ctx != NULL && SSL_CTX_up_ref(ctx) != 1)
		ctx = NULL;
	pthread_mutex_unlock(&p->trust_mu);
	if (ctx == NULL)
		return NULL;
	ssl = SSL_new(ctx); /* holds its own reference */
	SSL_CTX_free(ctx);
	return ssl;
}

X509_STORE *portal_tls_store(struct p11e_portal *p)
{
	X509_STORE *store;

	pthread_mutex_lock(&p->trust_mu);
	store = p->client_store;
	if (store != NULL && X509_STORE_up_ref(store) != 1)
		store = NULL;
	pthread_mutex_unlock(&p->trust_mu);
	return store;
}

void portal_tls_swap(struct p11e_portal *p, SSL_CTX *ssl, X509_STORE *store)
{
	SSL_CTX *old_ssl;
	X509_STORE *old_store;

	pthread_mutex_lock(&p->trust_mu);
	old_ssl = p->ssl;
	old_store = p->client_store;
	p->ssl = ssl;
	p->client_store = store;
	pthread_mutex_unlock(&p->trust_mu);
	SSL_CTX_free(old_ssl);	    /* freed when its last connection ends */
	X509_STORE_free(old_store); /* and when its last verification ends */
}

void portal_trust_stat(const struct p11e_portal *p, portal_file_id ids[PORTAL_WATCHED_FILES])
{
	const char *paths[PORTAL_WATCHED_FILES] = {
	    p->conf->tls_cert, p->tls_token == NULL ? p->conf->tls_key : NULL, p->conf->client_cas};

	memset(ids, 0, sizeof(*ids) * PORTAL_WATCHED_FILES);
	for (int i = 0; i < PORTAL_WATCHED_FILES; i++) {
		struct stat st;

		if (paths[i] == NULL || stat(paths[i], &st) != 0)
			continue; /* a token's key, or missing: its reappearance is a change */
		ids[i].present = 1;
		ids[i].dev = st.st_dev;
		ids[i].ino = st.st_ino;
		ids[i].size = st.st_size;
		ids[i].mtime = st.st_mtim;
	}
}

static int same_files(const portal_file_id *a, const portal_file_id *b)
{
	for (int i = 0; i < PORTAL_WATCHED_FILES; i++)
		if (a[i].present != b[i].present || a[i].dev != b[i].dev || a[i].ino != b[i].ino ||
		    a[i].size != b[i].size || a[i].mtime.tv_sec != b[i].mtime.tv_sec ||
		    a[i].mtime.tv_nsec != b[i].mtime.tv_nsec)
			return 0;
	return 1;
}

p11e_rc p11e_portal_reload(p11e_portal *p, int force, int *reloaded, p11e_err *err)
{
	portal_file_id now[PORTAL_WATCHED_FILES];
	SSL_CTX *ssl = NULL;
	X509_STORE *store = NULL;
	p11e_rc rc;

	*reloaded = 0;
	/* Stat first: a change while the files are read is seen next time. */
	portal_trust_stat(p, now);
	if (!force) {
		/* A change is taken once the files have stood still for one look:
		 * not a half-written file, nor a new certificate whose key is not
		 * there yet. */
		int settled = same_files(now, p->seen);

		memcpy(p->seen, now, sizeof(p->seen));
		/* Unchanged, or as a failed try already saw them (said once). */
		if (!settled || same_files(now, p->loaded) || same_files(now, p->tried))
			return P11E_OK;
	}
	memcpy(p->seen, now, sizeof(p->seen));
	memcpy(p->tried, now, sizeof(p->tried));
	if ((rc = portal_tls_build(p, &ssl, &store, err)) != P11E_OK)
		return rc;
	portal_tls_swap(p, ssl, store);
	memcpy(p->loaded, now, sizeof(p->loaded));
	*reloaded = 1;
	return P11E_OK;
}
