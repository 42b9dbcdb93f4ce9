/* The self-service portal, `p11enroll serve` (issue 13; docs/portal.md): a
 * small HTTPS service (libevent's evhttp over OpenSSL) where a user signed in
 * by a client certificate or a one-time invitation code sees their own
 * identity, downloads its certificate and PFX and reveals its escrowed PFX
 * password. Everything hangs off one p11e_portal; there is no global state.
 *
 * The request parsers (cookies, query strings and form bodies, JSON bodies,
 * URL paths) take bytes from a network peer: each returns a verdict for any
 * input, is unit-tested (tests/unit/test_portal_*.c) and fuzzed
 * (tests/fuzz/fuzz_portal_*.c). */
#ifndef P11ENROLL_PORTAL_H
#define P11ENROLL_PORTAL_H

#include <stddef.h>
#include <time.h>
#include "p11enroll/config.h"
#include "p11enroll/error.h"

/* The config's "portal" object, with --listen over its "listen". */
typedef struct p11e_portal_conf {
	char *listen;	      /* "127.0.0.1:8443" */
	char *tls_cert;	      /* PEM: the server certificate, then its chain */
	char *tls_key;	      /* a PEM file or a pkcs11: URI */
	char *client_cas;     /* PEM: the CAs whose client certificates are accepted */
	char *client_crl;     /* PEM CRL file (`ca crl --out`), or NULL: re-read per request */
	char **profiles;      /* self_service_profiles (NULL-terminated; may be empty) */
	long session_minutes; /* default 30 */
	char *officer_key;    /* file vault: the officer key (a file or pkcs11: URI) */
	int workers;	      /* threads, each with its own event loop (default 4) */
	/* What every page shows (docs/config.md, portal): */
	char *organisation; /* "Example Ltd", or NULL */
	char *logo;	    /* a PNG or SVG file, read at start into logo_data */
	char *help_contact; /* text, a mail address or an https:// URL, or NULL */
	char *logo_data;    /* the logo's bytes (logo_len), or NULL */
	size_t logo_len;
	const char *logo_type; /* "image/png" or "image/svg+xml" */
	/* Connections and limits (docs/portal.md): open connections in all, and
	 * from one client address (an IPv6 client's /64), and the seconds a
	 * connection has for its TLS handshake and each request's headers and
	 * body (also the most a kept-alive connection waits idle). */
	long max_connections;		 /* default 512 */
	long max_connections_per_client; /* default 32 */
	long request_timeout_seconds;	 /* default 10 */
} p11e_portal_conf;

/* Reads cfg's "portal" (P11E_CONFIG naming the key on a bad value; listen,
 * when not NULL, replaces its "listen"). Relative paths are the config
 * file's directory's. Free with p11e_portal_conf_clear. */
p11e_rc p11e_portal_conf_load(const p11e_config *cfg, const char *listen, p11e_portal_conf *out,
			      p11e_err *err);
void p11e_portal_conf_clear(p11e_portal_conf *c);

typedef struct p11e_portal p11e_portal;

/* Loads the TLS material, binds the socket and starts the worker threads.
 * The caller blocks the signals it waits for BEFORE (the workers inherit
 * the mask). cfg and conf must outlive the portal. */
p11e_rc p11e_portal_start(const p11e_config *cfg, const p11e_portal_conf *conf, p11e_portal **out,
			  p11e_err *err);
/* Re-reads portal.tls_cert, tls_key (a file; a key on a token stays as
 * loaded) and client_cas when force, or when one of them changed (stat:
 * device, inode, size, modification time) since it was last read and since
 * a failed try last saw it, and is as the previous call saw it (settled):
 * the new SSL_CTX and client store are built
 * whole, then swapped in; new connections and requests use them, those in
 * flight finish with theirs. *reloaded: 1 when swapped. On failure the old
 * ones stay and err has one line naming the file. One caller at a time
 * (`serve`'s main thread). */
p11e_rc p11e_portal_reload(p11e_portal *p, int force, int *reloaded, p11e_err *err);
/* "127.0.0.1:8443": the address actually bound (port 0 picks one). */
const char *p11e_portal_address(const p11e_portal *p);
/* Stops accepting, lets the requests in flight finish, joins the workers,
 * frees everything. NULL is fine. */
void p11e_portal_stop(p11e_portal *p);

/* --- invitations (src/portal/portal_invite.c) --- */

/* A new one-time code for email, valid for hours (1..720): 32 random bytes
 * as base64url (256 bits) into code (>= 48 bytes). Only its SHA-256 is
 * kept, in STATE_DIR/portal/invites/ (0600, atomic, under the "portal"
 * lock), with the address and the expiry. */
p11e_rc p11e_portal_invite(const p11e_config *cfg, const char *email, int hours, char *code,
			   size_t cap, p11e_err *err);
/* Redeems a code for email (any case): P11E_OK once (the invitation is
 * deleted), the address as the invitation spells it into *spelling when not
 * NULL (malloc'd: the local part's case as given to `invite`),
 * P11E_NOT_FOUND for an unknown, used, expired or another address's code
 * (one message for all, so nothing is learnt from it). */
p11e_rc p11e_portal_invite_redeem(const p11e_config *cfg, const char *email, const char *code,
				  char **spelling, p11e_err *err);

/* --- request parsers (src/portal/portal_parse.c) --- */

typedef enum p11e_portal_route {
	P11E_ROUTE_NONE = 0,	  /* unknown path: 404 */
	P11E_ROUTE_PAGE_HOME,	  /* GET / */
	P11E_ROUTE_PAGE_SIGNIN,	  /* POST /signin (form) */
	P11E_ROUTE_PAGE_PASSWORD, /* POST /identities/ID/password (form) */
	P11E_ROUTE_PAGE_REQUEST,  /* POST /identities (form) */
	P11E_ROUTE_PAGE_RENEW,	  /* POST /identities/ID/renew (form) */
	P11E_ROUTE_PAGE_REVOKE,	  /* GET (confirm) and POST /identities/ID/revoke (form) */
	P11E_ROUTE_PAGE_CA_CHAIN, /* GET /ca-chain.pem: the issuing CA chain */
	P11E_ROUTE_STATIC_CSS,	  /* GET /static/portal.css */
	P11E_ROUTE_STATIC_JS,	  /* GET /static/portal.js */
	P11E_ROUTE_STATIC_LOGO,	  /* GET /static/logo (portal.logo) */
	P11E_ROUTE_PAGE_SIGNOUT,  /* POST /signout (form, field csrf) */
	P11E_ROUTE_PAGE_CARDS,	  /* GET /cards: the user's cards and their states */
	P11E_ROUTE_PAGE_LOST,	  /* GET (confirm), POST /cards/SERIAL/lost (form) */
	P11E_ROUTE_ME,		  /* /api/v1/me */
	P11E_ROUTE_SESSION,	  /* /api/v1/session */
	P11E_ROUTE_IDENTITIES,	  /* /api/v1/identities */
	P11E_ROUTE_CERTIFICATE,	  /* /api/v1/identities/ID/certificate */
	P11E_ROUTE_PFX,		  /* /api/v1/identities/ID/pfx */
	P11E_ROUTE_PASSWORD,	  /* /api/v1/identities/ID/password */
	P11E_ROUTE_RENEW,	  /* /api/v1/identities/ID/renew */
	P11E_ROUTE_REVOKE,	  /* /api/v1/identities/ID/revoke */
	P11E_ROUTE_CARDS,	  /* /api/v1/cards */
	P11E_ROUTE_CARD_LOST,	  /* /api/v1/cards/SERIAL/lost (ID: the SERIAL) */
} p11e_portal_route;

#define P11E_PORTAL_ID_MAX 256

/* The route of a raw URL path (without the query), and for the routes with
 * one the identity ID into id (P11E_PORTAL_ID_MAX bytes): the path is split
 * on '/' first, then the ID's segment percent-decoded, so "%2F" is part of
 * an ID (an address may hold a '/'); an ID that is empty, too long, badly
 * escaped or holds a control character or a NUL gives P11E_ROUTE_NONE. */
p11e_portal_route p11e_portal_route_parse(const char *path, char *id);

/* The value of name in a query string or an x-www-form-urlencoded body
 * ("a=1&b=2", '+' is a space), decoded into out (cap bytes with the NUL):
 * 1 found, 0 absent, -1 malformed (bad escape, a NUL, too long). The first
 * occurrence counts. */
int p11e_portal_form_value(const char *text, size_t len, const char *name, char *out, size_t cap);

/* The value of cookie name in a Cookie header into out: 1, 0 or -1 as
 * above (a value with characters outside base64url is malformed). */
int p11e_portal_cookie_value(const char *header, const char *name, char *out, size_t cap);

/* A JSON request body (len bytes, at most 8 KiB) that must be one object
 * whose members are all among keys (NULL-terminated), each given once, and
 * strings of at most 1 KiB: vals[i] (malloc'd, or NULL if absent) for
 * keys[i]. P11E_USAGE with a one-line message otherwise; the caller frees
 * vals on any outcome. */
p11e_rc p11e_portal_json_strings(const char *body, size_t len, const char *const *keys, char **vals,
				 p11e_err *err);

/* 1 when a Content-Type header names application/json (parameters such as
 * charset=utf-8 allowed, case-insensitive), else 0 (NULL included). */
int p11e_portal_json_media_type(const char *content_type);

/* 1 when a state-changing request may be from the portal's own page: a
 * Sec-Fetch-Site, when given, is same-origin or none; an Origin, when
 * given, is exactly https://HOST of the Host header (":443" optional), or
 * "null" with Sec-Fetch-Site: same-origin. Any argument may be NULL
 * (header absent). */
int p11e_portal_origin_ok(const char *origin, const char *host, const char *fetch_site);

#endif
