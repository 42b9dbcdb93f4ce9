/* Private to the cyberark vault backend (src/vault/vault_cyberark.c): the
 * parsers of what CyberArk's PVWA REST API answers (vault_cyberark_parse.c),
 * each over one answer's bytes so that tests and the fuzzer reach them
 * without a server. Secrets a parser sees are wiped from json-c's objects
 * before they are freed. */
#ifndef P11ENROLL_VAULT_CYBERARK_H
#define P11ENROLL_VAULT_CYBERARK_H

#include <stddef.h>
#include "p11enroll/config.h"
#include "p11enroll/http.h"
#include "p11enroll/sbuf.h"
#include "p11enroll/vault.h"

#define ACCOUNT_NAME_MAX 128
#define IDENTITY_MAX 1024
#define PAGE 1000

/* The account properties p11enroll writes (platformAccountProperties): the
 * platform named by "platform_id" must define them as optional properties. */
#define CYBERARK_PROP_IDENTITY "P11eIdentity"
#define CYBERARK_PROP_CREATED "CertCreated"
#define CYBERARK_PROP_NOT_AFTER "CertExpires"
#define CYBERARK_PROP_SHA256 "CertSHA256"

/* One account of a Get accounts answer. */
typedef struct cyberark_account {
	char *id;
	char *name;	/* the account (object) name */
	char *identity; /* P11eIdentity, else a copy of name */
	p11e_vault_meta meta;
} cyberark_account;

/* {"ErrorCode":"PASWS006E","ErrorMessage":"..."} as "PASWS006E: ..." on one
 * clean line (at most cap bytes), or "" when the body holds neither. */
void cyberark_parse_error(const char *body, size_t len, char *out, size_t cap);

/* A Logon answer: the session token as a JSON string (or the older
 * {"CyberArkLogonResult":"..."}), fit for a header line. *token malloc'd, a
 * secret: p11e_secret_free. 0, or -1. */
int cyberark_parse_token(const char *body, size_t len, char **token);

/* A Retrieve password answer: the password as a JSON string. *out malloc'd
 * with a NUL after *out_len bytes, a secret (p11e_secret_free). 0; -1 not a
 * string (or empty); -3 no memory. */
int cyberark_parse_password(const char *body, size_t len, unsigned char **out, size_t *out_len);

/* A Get accounts answer, {"value":[{account}...],"count":N}: the accounts of
 * safe (others, and members of the wrong type, are skipped); *seen counts
 * every element of "value" (for paging). 0; -1 no "value" list; -3 no
 * memory. Free with cyberark_accounts_free. */
int cyberark_parse_accounts(const char *body, size_t len, const char *safe, cyberark_account **out,
			    size_t *n, size_t *seen);
void cyberark_accounts_free(cyberark_account *a, size_t n);

/* Whether a Get accounts answer that held seen accounts from offset has a
 * next page. The documentation's answer says so by "nextLink" and "count"
 * (every match); a page shorter than the limit asked for is not the last
 * when the PVWA caps pages lower ("MaxDisplayedRecords"). Without either
 * member, a full page (seen == limit) means more. An empty page never
 * does: a server that repeats itself cannot loop us forever. */
int cyberark_parse_more(const char *body, size_t len, size_t offset, size_t seen, size_t limit);

/* A Central Credential Provider GetPassword answer, {"Content":"...",
 * "UserName", "Address", "Safe", "Folder", "Name", ...}: the password in
 * "Content" into *out (malloc'd with a NUL after *out_len bytes, a secret),
 * when "Name", if present, is the account asked for (case-insensitive).
 * 0; -1 no password or another account; -3 no memory. */
int cyberark_parse_ccp(const char *body, size_t len, const char *acct, unsigned char **out,
		       size_t *out_len);

/* An Add account answer: its "id" (malloc'd). 0, or -1. */
int cyberark_parse_account_id(const char *body, size_t len, char **id);

/* --- the backend's own state and helpers (vault_cyberark_api.c) --- */

typedef struct cyberark {
	char *url;  /* without a trailing '/' */
	char *auth; /* "Cyberark", "LDAP" or "RADIUS": the Logon path's spelling */
	char *username;
	char *address;	       /* the accounts' address (platforms require one) */
	char *password_source; /* "env:VAR" or "file:PATH" */
	char *safe;
	char *safe_q; /* URL-escaped */
	char *platform_id;
	char *reason;
	char *ca_bundle;
	char *auth_header; /* "Authorization: TOKEN" (a secret) */
	int renewed;	   /* the one session renewal was spent */
	int add_attempts;  /* Add account attempts, after the first: "retries" */
	p11e_http http;
	/* The Central Credential Provider, when "ccp_app_id" is set: reads
	 * (get) go there, with the client certificate, and no PVWA logon. */
	char *ccp_url; /* without a trailing '/' */
	char *ccp_app_id, *ccp_app_id_q, *ccp_cert, *ccp_key;
	p11e_http ccp_http;
} cyberark;

char *cyberark_url_escape(const char *s);
/* The account name for an identity: itself, or SHA256-<hex>. */
void cyberark_account_name(const char *identity, char out[ACCOUNT_NAME_MAX + 1]);
p11e_rc cyberark_check_name(const char *name, p11e_err *err);
void cyberark_wipe_resp(p11e_http_resp *r);
p11e_rc cyberark_status_error(const cyberark *k, const p11e_http_resp *r, const char *doing,
			      p11e_err *err);
p11e_rc cyberark_logon(cyberark *k, p11e_err *err);
/* A request to /PasswordVault/API/PATH in the session, renewed once on 401.
 * no_retry: a request that must not be sent twice unseen (Add account). */
p11e_rc cyberark_authed(cyberark *k, const char *method, const char *path, const p11e_sbuf *body,
			int no_retry, p11e_http_resp *resp, p11e_err *err);
p11e_rc cyberark_find(cyberark *k, const char *acct, cyberark_account *out, int *found,
		      p11e_err *err);
void cyberark_account_clear(cyberark_account *a);
p11e_rc cyberark_retrieve(cyberark *k, const cyberark_account *a, unsigned char **out, size_t *len,
			  p11e_err *err);
/* The CCP's keys of the vault's config ("ccp_url", "ccp_app_id",
 * "ccp_cert_file", "ccp_key_file"; vault_cyberark_ccp.c) into k; none set
 * leaves the CCP off. */
p11e_rc cyberark_ccp_config(cyberark *k, const struct json_object *conf, p11e_err *err);
void cyberark_ccp_free(cyberark *k);
/* The password of account acct (for name, in messages) through the CCP:
 * GET /AIMWebService/api/Accounts?AppID=&Safe=&Folder=Root&Object=&Reason=.
 * Not there: P11E_NOT_FOUND. */
p11e_rc cyberark_ccp_get(cyberark *k, const char *name, const char *acct, unsigned char **out,
			 size_t *len, p11e_err *err);
/* The one-line error for a CCP request that failed in transfer: curl_code is
 * libcurl's CURLcode, detail its message. A TLS or connection failure after
 * the TCP connection was made (the provider refusing the client certificate
 * surfaces as a TLS alert, a reset, a failed send or receive, or getpeername's
 * errno 107, as the timing falls) names "ccp_cert_file" and "ccp_key_file";
 * the provider's own certificate not trusted names "ca_bundle"; anything else
 * is unreachable. P11E_FAIL. */
p11e_rc cyberark_ccp_transfer_error(const cyberark *k, int curl_code, const char *detail,
				    p11e_err *err);
/* An existing account for name: this very secret (P11E_OK) or P11E_EXISTS. */
p11e_rc cyberark_same_or_exists(cyberark *k, const char *name, const cyberark_account *a,
				const unsigned char *secret, size_t len, p11e_err *err);

#endif
