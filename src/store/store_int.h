/* What the store's files share (src/store/): not public. */
#ifndef P11ENROLL_STORE_INT_H
#define P11ENROLL_STORE_INT_H

#include "p11enroll/store.h"

extern const p11e_store_ops p11e_store_file_ops;
extern const p11e_store_ops p11e_store_pg_ops;

/* The PostgreSQL schema's migrations, oldest first (store_pg_schema.c):
 * migration i brings the schema from version i to i + 1. */
typedef struct p11e_pg_migration {
	const char *summary; /* one line, kept in the schema's history */
	const char *sql;     /* statements run in the migration's transaction */
} p11e_pg_migration;

const p11e_pg_migration *p11e_pg_migrations(int *count);

#endif
