/* The PostgreSQL store's schema, as migrations (docs/store.md): migration i
 * brings a schema from version i to i + 1, inside one transaction under the
 * migration lock (store_pg.c), and is recorded in p11e_schema. A released
 * migration is never edited: a change is a new one at the end.
 *
 * Version 1 holds everything that lives under STATE_DIR today:
 *   documents       every document of the store's API (store.h): records
 *                   (kind identity), keys in progress, PFX files, the file
 *                   vault's entries, invitations, portal sessions and sign-in
 *                   counts, ACME accounts, the embedded CA's index: bytes by
 *                   kind and name, with a row version and who wrote it last
 *   identities      a view of the records as JSON, for administrators (psql)
 *   audit           audit.jsonl: one row per line, seq and the line's hash;
 *                   audit_head (audit.head) the chain's last entry, one row
 *   counters        named counters that never hand out a value twice (the
 *                   embedded CA's serial and CRL numbers)
 * Locks are advisory locks on a connection of their own, not rows: a station
 * that dies releases them with its connection. */
#include <stddef.h>
#include "store_int.h"

static const p11e_pg_migration migrations[] = {
    {"the state of STATE_DIR as tables: documents (records, keys in progress, PFX files, "
     "vault entries, invitations, portal sessions, ACME accounts, the CA's index), the "
     "audit chain and its head, counters",
     "CREATE TABLE documents ("
     " kind text NOT NULL CHECK (kind ~ '^[a-z][a-z-]*$'),"
     " name text NOT NULL CHECK (name <> ''),"
     " data bytea NOT NULL,"
     " row_version bigint NOT NULL DEFAULT 1,"
     " updated_at timestamptz NOT NULL DEFAULT now(),"
     " updated_by text NOT NULL DEFAULT current_setting('application_name'),"
     " PRIMARY KEY (kind, name));"
     "CREATE VIEW identities AS"
     " SELECT name AS identity, convert_from(data, 'UTF8')::jsonb AS record,"
     " row_version, updated_at, updated_by FROM documents WHERE kind = 'identity';"
     "CREATE TABLE audit ("
     " seq bigint PRIMARY KEY CHECK (seq >= 1),"
     " line text NOT NULL,"
     " sha256 text NOT NULL CHECK (length(sha256) = 64),"
     " written_at timestamptz NOT NULL DEFAULT now());"
     "CREATE TABLE audit_head ("
     " one boolean PRIMARY KEY DEFAULT true CHECK (one),"
     " seq bigint NOT NULL,"
     " sha256 text NOT NULL);"
     "CREATE TABLE counters ("
     " name text PRIMARY KEY,"
     " value bigint NOT NULL CHECK (value >= 0));"},
};

const p11e_pg_migration *p11e_pg_migrations(int *count)
{
	*count = (int)(sizeof(migrations) / sizeof(migrations[0]));
	return migrations;
}
