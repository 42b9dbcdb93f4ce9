/* The audit log's parsers, apart from its files (src/core/audit_parse.c), so
 * that a fuzz harness reaches them with bytes alone (tests/fuzz/
 * fuzz_audit_log.c, fuzz_audit_head.c): the walk over the log's lines that
 * checks the hash chain, and the reading of STATE_DIR/audit.head. */
#ifndef P11ENROLL_AUDIT_PARSE_H
#define P11ENROLL_AUDIT_PARSE_H

#include <stddef.h>
#include "p11enroll/error.h"

#define P11E_AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* The log file as the last append left it: which file, how long, and its
 * change time, which only the kernel sets (to change it by hand takes
 * setting the system clock). */
typedef struct p11e_audit_print {
	long long dev, ino, size, ctime_s, ctime_ns;
} p11e_audit_print;

/* Where the chain stands after a log's last line. */
typedef struct p11e_audit_chain {
	long long seq; /* of the last chained entry; 0: none yet */
	char hash[65]; /* SHA-256 (hex) of the last line; P11E_AUDIT_ZERO_HASH: no line */
	size_t lines;  /* lines read */
	size_t bad;    /* the first bad line (1-based), 0 if none */
} p11e_audit_chain;

/* What STATE_DIR/audit.head says about one log. */
typedef struct p11e_audit_head {
	int found;     /* a head file exists */
	int this_log;  /* ... and it is about this log (else: another, or none) */
	long long seq; /* its last seq, 0 unless this_log */
	char hash[65]; /* its last line's hash, P11E_AUDIT_ZERO_HASH when unknown */
	p11e_audit_print print; /* all 0 when the head has none (older heads) */
} p11e_audit_head;

/* SHA-256 (hex) of one line without its newline. */
void p11e_audit_line_hash(const char *line, size_t len, char hex[65]);

/* One step of a walk: checks line (len bytes; line[len] may be changed
 * while it runs and is restored) against the chain c and advances it; *seq
 * is the line's own "seq" (0: an entry from before the chain). prev_known
 * 0: the line's "prev" is not checked (the chain before it was not read: c
 * stands at the seq before it). number names the line in a message as
 * "where unit number" (<= 0: the count of lines walked). P11E_FAIL naming
 * it, c->bad set to number. */
p11e_rc p11e_audit_walk_line(const char *where, const char *unit, long long number, char *line,
			     size_t len, int prev_known, p11e_audit_chain *c, long long *seq,
			     p11e_err *err);

/* Walks a whole log: text is len bytes followed by a NUL, modified while
 * walked and restored. P11E_FAIL naming path and the first bad line (also
 * in c->bad); c says where the chain stood at the last good line. */
p11e_rc p11e_audit_walk(const char *path, char *text, size_t len, p11e_audit_chain *c,
			p11e_err *err);

/* Reads a head's text (NUL-terminated; head_path for messages) for the log
 * at log. P11E_FAIL when it is not a head (corrupt). h->found is set. */
p11e_rc p11e_audit_head_parse(const char *head_path, const char *text, const char *log,
			      p11e_audit_head *h, p11e_err *err);

#endif
