/* One-time invitation codes (`p11enroll invite`, POST /api/v1/session): the
 * code is shown once and only its SHA-256 is kept, as the name of a file in
 * STATE_DIR/portal/invites/ that holds the address and the expiry. A file
 * per code makes a redeem one unlink: single use even when two requests race,
 * and a stolen state dir gives no usable code. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include "p11enroll/clock.h"
#include "p11enroll/lock.h"
#include "p11enroll/portal.h"
#include "p11enroll/record.h"
#include "p11enroll/util.h"
#include "p11enroll/validate.h"
#include "core/state_paths.h"
#include "portal_int.h"

#define INVITE_CODE_LEN 43 /* 32 bytes as base64url */

static char *invites_dir(const p11e_config *cfg, p11e_err *err)
{
	char *dir = p11e_state_invites_dir(cfg->state_dir);

	if (dir == NULL)
		p11e_errf(err, P11E_FAIL, "invite: out of memory");
	else if (p11e_mkdirs(dir, 0700, err) != P11E_OK) {
		free(dir);
		dir = NULL;
	}
	return dir;
}

static char *invite_path(const char *dir, const char *code)
{
	char hash[65], name[80];

	portal_sha256_hex(code, strlen(code), hash);
	snprintf(name, sizeof(name), "%s.json", hash);
	return p11e_path_join(dir, name);
}

/* Expiry of an invitation file, 0 if it is not one; its address into email. */
static time_t read_invite(const char *path, char **email)
{
	char *text = NULL;
	size_t len = 0;
	json_object *root = NULL, *e, *x;
	time_t expires = 0;
	p11e_err ignored;

	*email = NULL;
	if (p11e_read_private(path, 4096, &text, &len, &ignored) != P11E_OK)
		return 0;
	root = json_tokener_parse(text);
	if (root != NULL && json_object_object_get_ex(root, "email", &e) &&
	    json_object_object_get_ex(root, "expires", &x) &&
	    json_object_is_type(e, json_type_string) && json_object_is_type(x, json_type_string)) {
		expires = p11e_iso_parse(json_object_get_string(x));
		*email = strdup(json_object_get_string(e));
	}
	json_object_put(root);
	free(text);
	return *email != NULL ? expires : 0;
}

/* Expired invitations are deleted whenever a new one is made. */
static void sweep_expired(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char *path, *email = NULL;

		if (strlen(de->d_name) != 69 || strcmp(de->d_name + 64, ".json") != 0)
			continue;
		if ((path = p11e_path_join(dir, de->d_name)) == NULL)
			break;
		if (read_invite(path, &email) < p11e_now())
			unlink(path);
		free(email);
		free(path);
	}
	closedir(d);
}

p11e_rc p11e_portal_invite(const p11e_config *cfg, const char *email, int hours, char *code,
			   size_t cap, p11e_err *err)
{
	p11e_lock lock = P11E_LOCK_INIT;
	char *dir = NULL, *path = NULL, *identity = NULL, *spelling = NULL, when[21];
	json_object *doc = NULL;
	const char *text;
	p11e_rc rc;

	if (email == NULL || !p11e_email_valid(email))
		return p11e_errf(err, P11E_USAGE,
				 "invite: '%.80s' is not an email address; give the user's "
				 "address",
				 email ? email : "");
	if (hours < 1 || hours > 720)
		return p11e_errf(err, P11E_USAGE, "invite: --hours must be 1 to 720");
	/* The address as given (its local part's case kept, RFC 5321) is what
	 * a certificate requested through the portal will carry. */
	if ((identity = p11e_record_identity(email)) == NULL ||
	    (spelling = p11e_email_canonical(email)) == NULL) {
		free(identity);
		return p11e_errf(err, P11E_FAIL, "invite: out of memory");
	}
	if ((rc = portal_random_token(code, cap, err)) != P11E_OK ||
	    (dir = invites_dir(cfg, err)) == NULL) {
		rc = rc != P11E_OK ? rc : err->rc;
		goto out;
	}
	if ((rc = p11e_lock_acquire(cfg->store, "portal", "invites", P11E_LOCK_WAIT_DEFAULT_MS,
				    &lock, err)) != P11E_OK)
		goto out;
	sweep_expired(dir);
	p11e_iso_format(p11e_now() + (time_t)hours * 3600, when);
	if ((path = invite_path(dir, code)) == NULL || (doc = json_object_new_object()) == NULL ||
	    json_object_object_add(doc, "email", json_object_new_string(spelling)) != 0 ||
	    json_object_object_add(doc, "expires", json_object_new_string(when)) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "invite: out of memory");
		goto out;
	}
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
	rc = p11e_write_file_new(path, text, strlen(text), 0600, err);
out:
	if (rc != P11E_OK)
		OPENSSL_cleanse(code, cap);
	p11e_lock_release(&lock);
	json_object_put(doc);
	free(path);
	free(dir);
	free(identity);
	free(spelling);
	return rc;
}

p11e_rc p11e_portal_invite_redeem(const p11e_config *cfg, const char *email, const char *code,
				  char **spelling, p11e_err *err)
{
	p11e_lock lock = P11E_LOCK_INIT;
	char *dir = NULL, *path = NULL, *identity = NULL, *owner = NULL;
	p11e_rc rc = p11e_errf(err, P11E_NOT_FOUND,
			       "session: this code is not valid for this address (unknown, used "
			       "or expired): ask for a new invitation");
	p11e_err inner;
	time_t expires;

	if (spelling != NULL)
		*spelling = NULL;
	if (email == NULL || code == NULL || strlen(code) != INVITE_CODE_LEN ||
	    !p11e_email_valid(email))
		return rc;
	for (const char *c = code; *c != '\0'; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
			return rc;
	if ((identity = p11e_record_identity(email)) == NULL ||
	    (dir = invites_dir(cfg, &inner)) == NULL || (path = invite_path(dir, code)) == NULL ||
	    p11e_lock_acquire(cfg->store, "portal", "invites", P11E_LOCK_WAIT_DEFAULT_MS, &lock,
			      &inner) != P11E_OK) {
		rc = p11e_errf(err, P11E_FAIL,
			       "session: the invitation store cannot be read now; "
			       "try again later");
		goto out;
	}
	expires = read_invite(path, &owner);
	if (owner == NULL)
		goto out;
	if (expires < p11e_now()) {
		unlink(path);
		goto out;
	}
	/* Addresses match without regard to case (the invitation keeps the
	 * spelling it was made for; older ones hold the lower-cased one). */
	if (strcasecmp(owner, identity) != 0)
		goto out; /* someone else's code: left for its owner */
	if (unlink(path) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "session: invitation: cannot delete it (%s)",
			       strerror(errno));
		goto out;
	}
	rc = P11E_OK;
	if (spelling != NULL) {
		*spelling = owner;
		owner = NULL;
	}
out:
	p11e_lock_release(&lock);
	free(owner);
	free(path);
	free(dir);
	free(identity);
	return rc;
}
