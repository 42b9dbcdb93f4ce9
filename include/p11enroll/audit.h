/* The audit log: one JSON object per line, appended, for every action that
 * hands out something escrowed or exported (`escrow show`, `export`):
 *
 *   {"time":"2026-11-22T09:00:00Z","user":"alice","uid":1000,"host":"ws1",
 *    "pid":4242,"action":"escrow-show","identity":"bob@example.com",
 *    "outcome":"ok"}
 *
 * The file is the config's "audit_log" (relative to the config file), else
 * STATE_DIR/audit.jsonl; created 0600 (its directory 0700), opened
 * O_APPEND, each line written with one write(2) under an exclusive lock and
 * fsync'd. The API takes no secret, so none can reach the log: only names,
 * outcomes and the one-line error messages (which never hold one). */
#ifndef P11ENROLL_AUDIT_H
#define P11ENROLL_AUDIT_H

#include "p11enroll/config.h"
#include "p11enroll/error.h"

/* The audit log's path into *out (malloc'd); P11E_CONFIG if "audit_log" is
 * not a non-empty string. */
p11e_rc p11e_audit_path(const p11e_config *cfg, char **out, p11e_err *err);

/* Appends one record: action ("escrow-show", "export"), identity (may be
 * NULL), outcome (P11E_OK or the failure's code, written as "ok" or the
 * code's name with the message of outcome_err), and extra key/value string
 * pairs ended by a NULL key (may be NULL; a pair with a NULL value is left
 * out), e.g. {"format", "pem", NULL}.
 * P11E_FAIL in err naming the file if the line could not be written and
 * synced: a caller that is about to reveal a secret must then not. */
p11e_rc p11e_audit_write(const p11e_config *cfg, const char *action, const char *identity,
			 const char *const *extra, p11e_rc outcome, const p11e_err *outcome_err,
			 p11e_err *err);

/* The same without extra fields. */
p11e_rc p11e_audit(const p11e_config *cfg, const char *action, const char *identity,
		   p11e_rc outcome, const p11e_err *outcome_err, p11e_err *err);

#endif
