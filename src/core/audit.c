/* The append-only audit log (see include/p11enroll/audit.h). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "p11enroll/audit.h"
#include "p11enroll/util.h"

#define AUDIT_FILE "audit.jsonl"

p11e_rc p11e_audit_path(const p11e_config *cfg, char **out, p11e_err *err)
{
	json_object *v;
	const char *value, *slash;

	*out = NULL;
	if (cfg->root == NULL || !json_object_object_get_ex(cfg->root, "audit_log", &v)) {
		*out = p11e_path_join(cfg->state_dir, AUDIT_FILE);
		return *out ? P11E_OK : p11e_errf(err, P11E_FAIL, "out of memory");
	}
	if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: 'audit_log' must be a path (remove it for "
				 "STATE_DIR/audit.jsonl)",
				 cfg->path ? cfg->path : "");
	value = json_object_get_string(v);
	/* Relative to the config file's directory, like every path in it. */
	slash = cfg->path ? strrchr(cfg->path, '/') : NULL;
	if (value[0] == '/' || slash == NULL) {
		*out = strdup(value);
	} else {
		char *dir = strndup(cfg->path, (size_t)(slash - cfg->path));
		*out = dir ? p11e_path_join(dir[0] ? dir : "/", value) : NULL;
		free(dir);
	}
	return *out ? P11E_OK : p11e_errf(err, P11E_FAIL, "out of memory");
}

static void add_str(json_object *o, const char *key, const char *value)
{
	if (value != NULL)
		json_object_object_add(o, key, json_object_new_string(value));
}

/* Who: the account of the real uid (not $USER, which anyone can set), and
 * under sudo the account that ran sudo as well. */
static void add_who(json_object *o)
{
	uid_t uid = getuid();
	const struct passwd *pw = getpwuid(uid);
	const char *sudo_user = getenv("SUDO_USER");
	char host[256] = "";
	char num[32];

	if (pw != NULL && pw->pw_name != NULL) {
		add_str(o, "user", pw->pw_name);
	} else {
		snprintf(num, sizeof(num), "uid:%lu", (unsigned long)uid);
		add_str(o, "user", num);
	}
	json_object_object_add(o, "uid", json_object_new_int64((int64_t)uid));
	if (uid == 0 && sudo_user != NULL && sudo_user[0] != '\0')
		add_str(o, "sudo_user", sudo_user);
	if (gethostname(host, sizeof(host) - 1) == 0)
		add_str(o, "host", host);
	json_object_object_add(o, "pid", json_object_new_int64((int64_t)getpid()));
}

p11e_rc p11e_audit_write(const p11e_config *cfg, const char *action, const char *identity,
			 const char *const *extra, p11e_rc outcome, const p11e_err *outcome_err,
			 p11e_err *err)
{
	char *path = NULL, *dir = NULL, *line = NULL, *slash;
	char when[32];
	struct tm tm;
	time_t now = time(NULL);
	json_object *o = NULL;
	const char *text;
	int fd = -1, saved = 0;
	p11e_rc rc;

	rc = p11e_audit_path(cfg, &path, err);
	if (rc != P11E_OK)
		return rc;
	o = json_object_new_object();
	if (o == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "audit log %s: out of memory", path);
		goto out;
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	add_str(o, "time", when);
	add_who(o);
	add_str(o, "action", action);
	add_str(o, "identity", identity);
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i += 2)
		add_str(o, extra[i], extra[i + 1]);
	add_str(o, "outcome", outcome == P11E_OK ? "ok" : p11e_rc_name(outcome));
	if (outcome != P11E_OK && outcome_err != NULL && outcome_err->msg[0] != '\0')
		add_str(o, "error", outcome_err->msg);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	/* json-c escapes control characters, so the record is one line. */
	if (text == NULL || (line = malloc(strlen(text) + 2)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "audit log %s: out of memory", path);
		goto out;
	}
	strcpy(line, text);
	strcat(line, "\n");

	if ((dir = strdup(path)) != NULL && (slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if ((rc = p11e_mkdirs(dir, 0700, err)) != P11E_OK)
			goto out;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		saved = errno;
		goto fail;
	}
	/* One write per record under a lock: concurrent runs never interleave. */
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			saved = errno;
			goto fail;
		}
	if (p11e_write_all(fd, line, strlen(line)) != 0 || fsync(fd) != 0) {
		saved = errno ? errno : EIO;
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		saved = errno;
		goto fail;
	}
	fd = -1;
	rc = P11E_OK;
	goto out;
fail:
	rc = p11e_errf(err, P11E_FAIL, "audit log %s: cannot append: %s", path, strerror(saved));
out:
	if (fd >= 0)
		close(fd);
	json_object_put(o);
	free(line);
	free(dir);
	free(path);
	return rc;
}

p11e_rc p11e_audit(const p11e_config *cfg, const char *action, const char *identity,
		   p11e_rc outcome, const p11e_err *outcome_err, p11e_err *err)
{
	return p11e_audit_write(cfg, action, identity, NULL, outcome, outcome_err, err);
}
