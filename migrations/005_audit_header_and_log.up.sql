-- Everything an audit claims is in its chain, and sealed audits are leaves of one Merkle log.
--
-- canonical_form says how the audit's rows are encoded for hashing: 1 is the first, Go-specific form
-- (every audit stored before this migration); 2 is RFC 8785 (JCS) with integers kept exact, and adds
-- chain entries of its own: the header at seq 0 (what the audit claims: organisation, period, kind,
-- vantages, hashes of config, rules, inventory and reference files, the tool build), each step's outcome
-- and the finish (status and time).
ALTER TABLE audits ADD COLUMN canonical_form smallint NOT NULL DEFAULT 1 CHECK (canonical_form IN (1, 2));

CREATE TABLE audit_entries (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    audit_id   bigint NOT NULL REFERENCES audits (id),
    seq        bigint NOT NULL CHECK (seq >= 0),
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('header', 'step', 'finish')),
    body       jsonb NOT NULL,
    UNIQUE (audit_id, seq),
    CHECK ((kind = 'header') = (seq = 0))
);

-- The log: leaf idx is a sealed audit's head or a report's digest, as canonical JSON (data), hashed as
-- RFC 6962 leaves. Signed checkpoints of the tree live outside the database, with the key that signs them.
CREATE TABLE log_leaves (
    idx        bigint PRIMARY KEY CHECK (idx >= 0),
    kind       text NOT NULL CHECK (kind IN ('audit', 'report')),
    audit_id   bigint NOT NULL REFERENCES audits (id),
    report_id  bigint REFERENCES reports (id),
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL,
    CHECK ((kind = 'report') = (report_id IS NOT NULL))
);
CREATE UNIQUE INDEX log_leaves_audit ON log_leaves (audit_id) WHERE kind = 'audit';
CREATE UNIQUE INDEX log_leaves_report ON log_leaves (report_id) WHERE kind = 'report';

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit_entries', 'log_leaves']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION varde_refuse_change()',
                       t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION varde_refuse_change()',
                       t || '_no_truncate', t);
    END LOOP;
END;
$$;

REVOKE ALL ON audit_entries, log_leaves FROM PUBLIC;
GRANT SELECT, INSERT ON audit_entries, log_leaves TO varde_writer;
