-- Web console sessions, kept in Postgres so that any `varde serve` replica can serve any request; and an
-- index for the console's reads of findings.
--
-- The cookie carries a random secret; only its sha256 is stored, so a read of this table does not hand
-- out sessions. A session is bound to the API token it was made from (token_ref, a reference that is not
-- the token) and carries the scopes the token had at sign-in. expires_at is enforced by the server; rows
-- past it are refused and swept. Sessions are not evidence: the writer may delete them (sign-out, sweep).
CREATE TABLE console_sessions (
    id_sha256  bytea PRIMARY KEY CHECK (length(id_sha256) = 32),
    token_ref  text NOT NULL,
    subject    text NOT NULL,
    scopes     text[] NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL CHECK (expires_at > created_at)
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

REVOKE ALL ON console_sessions FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON console_sessions TO varde_writer;

-- The console reads one rule's findings of an audit (the store summaries for the map and headlines) without
-- scanning the audit's other findings.
CREATE INDEX findings_audit_rule ON findings (audit_id, rule_id, seq);
