/* The generations part of a record's JSON (src/core/record_history.c), for
 * record.c's load and save. */
#ifndef P11ENROLL_RECORD_HISTORY_H
#define P11ENROLL_RECORD_HISTORY_H

#include <json-c/json.h>
#include "p11enroll/record.h"

/* Reads "generation" and "history" from o into r; name stands for the file
 * in messages. P11E_FAIL naming what is wrong. */
p11e_rc record_history_parse(const char *name, json_object *o, p11e_record *r, p11e_err *err);
/* Adds them to o (nothing for a first generation without history). */
p11e_rc record_history_save(json_object *o, const p11e_record *r, p11e_err *err);
void record_history_clear(p11e_record *r);

#endif
