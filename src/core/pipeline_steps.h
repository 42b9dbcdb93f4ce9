/* Inside the enrollment pipeline (src/core/pipeline.c): what one run holds
 * open, and the steps the machine's tables name. The steps live by key store:
 * steps_token.c (a key made on the token), steps_software.c (a key made in
 * memory, delivered as a PKCS#12 file), steps_archived.c (a software key
 * imported onto the token) and steps_ca.c (CSR, submit, poll: shared by all).
 * Each step moves r->rec->step on by one; the machine saves the record. */
#ifndef P11ENROLL_PIPELINE_STEPS_H
#define P11ENROLL_PIPELINE_STEPS_H

#include <openssl/evp.h>
#include "p11enroll/ca.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/profile.h"
#include "p11enroll/session.h"

/* What one run of the pipeline holds open. */
typedef struct enroll_run {
	const p11e_config *cfg;
	const p11e_enroll_params *p;
	p11e_record *rec;
	p11e_profile profile;
	p11e_keytype kt;
	p11e_session sess; /* ours, unless the caller shares a token */
	p11e_token *token; /* sess.token or the shared one */
	p11e_ca *ca;
	int ca_shared; /* ca belongs to p->shared: never closed here */
	int chose_id;  /* this run chose temp_id: no earlier run can have used it */
	int persisted; /* the record exists on disk */
	int created;   /* this run created it (none was there): a refusal at new removes it */
	/* The CSR was signed before the key's rename and saved durably with its
	 * final ID (pipe_step_key): csr-built need not be durable again. */
	int csr_before_rename;
	/* Software key store (record key_store "software"): no token; the key
	 * and its escrowed PFX password, once made or read back. */
	int software;
	/* Archived (record key_store "archived"): a software key whose run
	 * ends by importing it onto the token (pipe_step_store_archived). */
	int archived;
	EVP_PKEY *skey;
	char *pfx_pass; /* wiped at the end of the run */
	/* The vault entry and key file name of this generation's PFX password:
	 * the identity, or "IDENTITY#N" from generation 2 on. */
	char *secret;
	/* The token's card in the registry (card_enroll.c): 0 not looked up,
	 * 1 registered, -1 not registered. */
	int card_seen;
} enroll_run;

/* Shared helpers (pipeline.c). */
void pipe_crash_point(const char *name);
p11e_rc pipe_save(enroll_run *r, p11e_err *err); /* durable */
/* durable 0: a save a crash may lose (pipeline.c's durable_after). */
p11e_rc pipe_save_step(enroll_run *r, int durable, p11e_err *err);
p11e_rc pipe_parse_id(const char *hex, p11e_id *id, const char *field, p11e_err *err);
p11e_rc pipe_set_hex(char **field, const p11e_id *id, p11e_err *err);
p11e_rc pipe_public_key_id(EVP_PKEY *pub, p11e_id *id, p11e_err *err);
p11e_rc pipe_count_key(enroll_run *r, const p11e_id *id, size_t *priv, size_t *pub, p11e_err *err);

/* card_enroll.c: refuses a token whose card may take no keys (before any
 * key is made); a finished enrollment moves its card from stock to issued
 * (a failure there is a warning: the certificate is on the card). */
p11e_rc pipe_card_check(enroll_run *r, p11e_err *err);
void pipe_card_issue(enroll_run *r);

/* steps_token.c */
p11e_rc pipe_step_new(enroll_run *r, p11e_err *err);
p11e_rc pipe_step_key(enroll_run *r, p11e_err *err);
p11e_rc pipe_step_store(enroll_run *r, p11e_err *err);
/* Signs the CSR (the software key, or the token's key under id) into the
 * record's csr_pem and request_key (src/core/steps_ca.c). */
p11e_rc pipe_csr_sign(enroll_run *r, const p11e_id *id, p11e_err *err);
/* The key pair made under id with the profile's usages (crash point key-made). */
p11e_rc pipe_token_generate(enroll_run *r, const p11e_id *id, p11e_err *err);

/* pipeline_slot.c: a key for a card's slot (record slot_id) */
int pipe_slot_fixed(const enroll_run *r); /* slot_kind "fixed": made in the slot */
/* slot_hex NULL: no slot (the record's slot fields cleared). */
p11e_rc pipe_slot_new(enroll_run *r, const char *slot_hex, p11e_err *err);
p11e_rc pipe_slot_key(enroll_run *r, p11e_err *err);
p11e_rc pipe_slot_drop_old_cert(enroll_run *r, X509 *cert, p11e_err *err);
p11e_rc pipe_slot_move(enroll_run *r, p11e_err *err);

/* steps_software.c */
p11e_rc pipe_soft_password(enroll_run *r, p11e_err *err);
p11e_rc pipe_soft_key(enroll_run *r, p11e_err *err);
p11e_rc pipe_step_new_software(enroll_run *r, p11e_err *err);
p11e_rc pipe_step_key_software(enroll_run *r, p11e_err *err);
p11e_rc pipe_step_store_software(enroll_run *r, p11e_err *err);

/* steps_archived.c */
p11e_rc pipe_step_store_archived(enroll_run *r, p11e_err *err);

/* steps_history.c: stored -> done (a renewal's old generation, publishing,
 * the post_renew_command hook) */
p11e_rc pipe_step_finish(enroll_run *r, p11e_err *err);
/* A renewal that reuses the key: its old certificate leaves the key's ID
 * just before the new one is written there (a repeat finds nothing). */
p11e_rc pipe_history_make_room(enroll_run *r, p11e_err *err);

/* steps_ca.c */
p11e_rc pipe_step_csr(enroll_run *r, p11e_err *err);
p11e_rc pipe_step_submit(enroll_run *r, p11e_err *err);
p11e_rc pipe_step_poll(enroll_run *r, p11e_err *err);

#endif
