-- p11enroll's PostgreSQL store: the privileges of a fleet's roles
-- (docs/fleet.md#roles). Run by the schema's owner, the role that ran
-- `p11enroll store init`, after `store init` and again after every
-- `store migrate` (a migration's new table has no grant until then):
--
--   psql "CONNINFO-AS-THE-OWNER" -v schema=p11enroll -v station=p11e_station \
--        -v auditor=p11e_auditor -f roles.sql
--
-- The roles are made first by the DBA, for example
--   CREATE ROLE p11e_station LOGIN;  \password p11e_station
--   CREATE ROLE p11e_auditor LOGIN;  \password p11e_auditor
-- Rerunning it is harmless: every grant is revoked first and given again.
--
-- station: the enrollment stations, the portals and the renewal timer.
--   documents  SELECT INSERT UPDATE DELETE  records, keys in progress, PFX
--              files, vault entries, invitations, sessions (put is an
--              INSERT ... ON CONFLICT DO UPDATE; remove is a DELETE)
--   counters   SELECT INSERT UPDATE         never DELETE: a counter deleted
--              would hand out its values again (the CA's serials)
--   audit      SELECT INSERT                never UPDATE or DELETE: the chain
--              only grows
--   audit_head SELECT INSERT UPDATE         the head moves with each append
--              (INSERT ... ON CONFLICT DO UPDATE: the first append inserts
--              it; SELECT ... FOR UPDATE needs UPDATE)
--   p11e_schema, identities SELECT          the schema's version, checked on
--              every connection; the records as JSON
-- auditor: reads the chain and nothing else (no record, no key, no PFX).
--   audit, audit_head, p11e_schema SELECT
-- Neither owns anything, so neither can DROP, ALTER or TRUNCATE a table,
-- nor run `store init` or `store migrate`.
\set ON_ERROR_STOP on
BEGIN;
REVOKE ALL ON SCHEMA :"schema" FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA :"schema" FROM PUBLIC, :"station", :"auditor";
GRANT USAGE ON SCHEMA :"schema" TO :"station", :"auditor";
GRANT SELECT ON :"schema".p11e_schema TO :"station", :"auditor";
GRANT SELECT ON :"schema".identities TO :"station";
GRANT SELECT, INSERT, UPDATE, DELETE ON :"schema".documents TO :"station";
GRANT SELECT, INSERT, UPDATE ON :"schema".counters TO :"station";
GRANT SELECT, INSERT ON :"schema".audit TO :"station";
GRANT SELECT, INSERT, UPDATE ON :"schema".audit_head TO :"station";
GRANT SELECT ON :"schema".audit, :"schema".audit_head TO :"auditor";
COMMIT;
