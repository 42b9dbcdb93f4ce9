/* The PostgreSQL store's schema, as migrations (docs/store.md): migration i
 * brings a schema from version i to i + 1, inside one transaction under the
 * migration lock (store_pg.c), and is recorded in p11e_schema. A released
 * migration is never edited: a change is a new one at the end.
 *
 * Version 1 holds everything that lives under STATE_DIR today, one table
 * per kind (core/state_paths.c names the files it replaces):
 *   identities      identities/NAME.json: one row per identity, the record
 *                   as the JSON document the file holds (its generations and
 *                   history inside), and a row version for compare-and-set
 *   blobs           keys/, pfx/, escrow/ (the file vault's entries): bytes
 *                   by kind and name
 *   audit           audit.jsonl: one row per line, seq and the line's hash;
 *                   audit_head (audit.head) the chain's last entry, one row
 *   invites         portal/invites/: the code's SHA-256, address, expiry
 *   portal_sessions the portal's sessions (today in serve's memory), by the
 *                   token's SHA-256, so that two serve processes agree
 *   portal_attempts the portal's failed sign-in counts, likewise
 *   acme_accounts   an ACME CA's account directory
 *   ca_index        the embedded CA's index.txt, ca_counters its serial and
 *                   crlnumber files: serials come from the database, so two
 *                   stations never issue one twice
 * Per-identity locks are advisory locks on the station's connection, not
 * rows: a station that dies releases them with its connection. */
#include <stddef.h>
#include "store_int.h"

static const p11e_pg_migration migrations[] = {
    {"the state of STATE_DIR as tables: identities, blobs, audit, invites, portal "
     "sessions and attempts, ACME accounts, the embedded CA's index and counters",
     "CREATE TABLE identities ("
     " identity text PRIMARY KEY,"
     " record jsonb NOT NULL,"
     " row_version bigint NOT NULL DEFAULT 1,"
     " updated_at timestamptz NOT NULL DEFAULT now(),"
     " updated_by text NOT NULL);"
     "CREATE TABLE blobs ("
     " kind text NOT NULL CHECK (kind IN ('key', 'pfx', 'escrow')),"
     " name text NOT NULL,"
     " data bytea NOT NULL,"
     " created_at timestamptz NOT NULL DEFAULT now(),"
     " PRIMARY KEY (kind, name));"
     "CREATE TABLE audit ("
     " seq bigint PRIMARY KEY CHECK (seq >= 1),"
     " line text NOT NULL,"
     " sha256 text NOT NULL CHECK (length(sha256) = 64),"
     " written_at timestamptz NOT NULL DEFAULT now());"
     "CREATE TABLE audit_head ("
     " one boolean PRIMARY KEY DEFAULT true CHECK (one),"
     " seq bigint NOT NULL,"
     " sha256 text NOT NULL);"
     "CREATE TABLE invites ("
     " code_sha256 text PRIMARY KEY CHECK (length(code_sha256) = 64),"
     " email text NOT NULL,"
     " expires timestamptz NOT NULL);"
     "CREATE TABLE portal_sessions ("
     " token_sha256 text PRIMARY KEY CHECK (length(token_sha256) = 64),"
     " email text NOT NULL,"
     " expires timestamptz NOT NULL);"
     "CREATE INDEX portal_sessions_expires ON portal_sessions (expires);"
     "CREATE TABLE portal_attempts ("
     " key text PRIMARY KEY,"
     " failures integer NOT NULL,"
     " since timestamptz NOT NULL,"
     " next_allowed timestamptz);"
     "CREATE TABLE acme_accounts ("
     " directory_url text PRIMARY KEY,"
     " account jsonb NOT NULL);"
     "CREATE TABLE ca_counters ("
     " ca text PRIMARY KEY,"
     " next_serial numeric NOT NULL CHECK (next_serial >= 1),"
     " next_crl_number numeric NOT NULL CHECK (next_crl_number >= 1));"
     "CREATE TABLE ca_index ("
     " ca text NOT NULL REFERENCES ca_counters (ca),"
     " serial text NOT NULL,"
     " status char(1) NOT NULL CHECK (status IN ('V', 'R', 'E')),"
     " not_after timestamptz NOT NULL,"
     " revoked_at timestamptz,"
     " reason text,"
     " subject text NOT NULL,"
     " PRIMARY KEY (ca, serial));"},
};

const p11e_pg_migration *p11e_pg_migrations(int *count)
{
	*count = (int)(sizeof(migrations) / sizeof(migrations[0]));
	return migrations;
}
