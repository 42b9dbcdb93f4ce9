/* The audit log: one JSON object per line, appended, for every action that
 * hands out or reads back something escrowed (`escrow show`, `export`,
 * `recover`, and the escrowed-password fetch of a resumed software
 * enrollment, "escrow-fetch"):
 *
 *   {"seq":7,"prev":"<sha256 hex of line 6>","time":"2026-11-22T09:00:00Z",
 *    "user":"alice","uid":1000,"host":"ws1","pid":4242,
 *    "action":"escrow-show","identity":"bob@example.com","outcome":"ok"}
 *
 * Hash-chained: "seq" counts from 1 and "prev" is the SHA-256 of the line
 * before (64 zeros for the first line), so an edited, inserted or removed
 * entry breaks the chain at the next line. STATE_DIR/audit.head (written
 * atomically after each append) keeps the last seq and hash, so a log cut at
 * its end, or deleted whole, is noticed: it is never recreated silently. Nor
 * is the head: a missing one beside chained entries is an error for verify
 * and appends alike, until `audit reset-head` (p11e_audit_reset_head) trusts
 * the log as it is, in an entry of its own.
 * Every append first checks the chain and refuses a broken one.
 * Each entry also goes to syslog (LOG_AUTHPRIV), out of the local user's
 * reach. Lines from before the chain (no "seq") may only come first.
 *
 * The chain lives in the config's store (store.h), this code being the same
 * for every store: in the file store the config's "audit_log" (relative to
 * the config file), else STATE_DIR/audit.jsonl; created 0600 (its directory
 * 0700), opened without following a symlink (p11e_open_private), each line
 * written with one write(2) under an exclusive lock and fsync'd
 * (src/store/store_file_audit.c). In the PostgreSQL store the tables audit
 * and audit_head, an append one transaction (src/store/store_pg_audit.c),
 * the head never behind its chain. An append checks the chain's end against
 * the head (the file store walks the whole log unless it is exactly as the
 * last append left it); `audit verify` walks it all. The API takes no
 * secret, so none can reach the log: only names, outcomes and the one-line
 * error messages (which never hold one). */
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

/* What p11e_audit_verify found. */
typedef struct p11e_audit_report {
	char *path;	   /* the log (malloc'd) */
	int exists;	   /* 0: no log, and none expected */
	long long entries; /* chained entries verified */
	size_t lines;	   /* lines read */
	size_t bad_line;   /* the first bad line (1-based; in PostgreSQL the bad entry's
			    * seq), 0 if none */
	char sha256[65];   /* hash of the last line */
	char unit[8];	   /* what bad_line counts: "line" (a file), "entry" (PostgreSQL) */
	int whole;	   /* the whole chain was read (else only its end, against the head) */
} p11e_audit_report;

/* Verifies the whole chain and the head: P11E_OK when intact (or when there
 * is no log and none is expected), else P11E_FAIL naming the first bad line
 * (also in rep->bad_line) or the missing log. Free rep with
 * p11e_audit_report_free, whatever the outcome. */
p11e_rc p11e_audit_verify(const p11e_config *cfg, p11e_audit_report *rep, p11e_err *err);
void p11e_audit_report_free(p11e_audit_report *rep);

/* `audit head`: the chain's end (rep->entries, rep->sha256) as its head
 * vouches for it, checked against the chain's last entry, without reading
 * the whole chain (`audit verify` does): what an auditor pins elsewhere.
 * Fails as p11e_audit_verify does when the end and the head disagree.
 * Free rep with p11e_audit_report_free, whatever the outcome. */
p11e_rc p11e_audit_head_check(const p11e_config *cfg, p11e_audit_report *rep, p11e_err *err);

/* `audit show`: verifies as p11e_audit_verify does and hands fn each entry
 * that chains, in order: the line (len bytes, a NUL after them), its own
 * seq (0: from before the chain) and its SHA-256. A non-OK return of fn
 * stops the walk and is returned. */
typedef p11e_rc (*p11e_audit_entry_fn)(void *arg, const char *line, size_t len, long long seq,
				       const char *sha256, p11e_err *err);
p11e_rc p11e_audit_each(const p11e_config *cfg, p11e_audit_entry_fn fn, void *arg,
			p11e_audit_report *rep, p11e_err *err);

/* What p11e_audit_reset_head trusted. */
typedef struct p11e_audit_reset {
	char *path;	    /* the log (malloc'd) */
	int unchanged;	    /* the head already vouched for the log's end: nothing written */
	long long entries;  /* chained entries now trusted (before its own line) */
	size_t lines;	    /* lines now trusted */
	char sha256[65];    /* hash of the last line now trusted */
	char previous[32];  /* what the head was: "missing", "about another log", "entry N" */
} p11e_audit_reset;

/* `audit reset-head`: makes the head vouch for the log as it is now, after a
 * head was deleted (or the log was cut and the cut accepted). The chain
 * itself must be intact (P11E_FAIL naming the first bad line otherwise); no
 * log is P11E_NOT_FOUND. Appends an "audit-reset-head" entry naming what it
 * trusts (trusted_entries, trusted_lines, trusted_sha256, previous_head)
 * and who ran it, then the head after it. Free out with
 * p11e_audit_reset_free, whatever the outcome. */
p11e_rc p11e_audit_reset_head(const p11e_config *cfg, p11e_audit_reset *out, p11e_err *err);
void p11e_audit_reset_free(p11e_audit_reset *r);

/* The same without extra fields. */
p11e_rc p11e_audit(const p11e_config *cfg, const char *action, const char *identity,
		   p11e_rc outcome, const p11e_err *outcome_err, p11e_err *err);

/* `store migrate --from file:DIR` (audit_import.c): a station's chain into
 * the configured store's, re-chained: one "audit-import" entry per source
 * entry (source_chain: the hash of the source's first line; source_entry,
 * source_seq, source_sha256, source_line: the entry whole), then an
 * "audit-import-head" entry naming the source's head. */
struct p11e_store;
typedef struct p11e_audit_source p11e_audit_source;
/* Reads and verifies the source's whole chain (*out: its entries; none
 * when it has no log). P11E_FAIL naming the first bad line when broken. */
p11e_rc p11e_audit_import_read(struct p11e_store *from, p11e_audit_source **out,
			       p11e_err *err);
size_t p11e_audit_import_count(const p11e_audit_source *s);
/* Appends the entries the target's chain does not hold yet (a rerun, after
 * a crash or not, appends nothing twice), then the head entry if missing.
 * P11E_EXISTS when the target holds another version of that chain. */
p11e_rc p11e_audit_import_write(struct p11e_store *to, const p11e_audit_source *s,
				size_t *imported, size_t *present, p11e_err *err);
void p11e_audit_import_free(p11e_audit_source *s);

#endif
