-- Least privilege. The owner (the role that runs `varde db migrate`) owns every table; varde's CLI and
-- service connect as varde_writer, which may only read, and append evidence. It owns nothing, so it
-- cannot ALTER a table or DISABLE its triggers, and it holds no UPDATE, DELETE or TRUNCATE on evidence.
-- The role is created outside the schema (roles belong to the cluster): see README, "Database roles".
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'varde_writer') THEN
        RAISE EXCEPTION 'varde: role varde_writer does not exist; create it first: CREATE ROLE varde_writer LOGIN PASSWORD ''...'' (README, "Database roles")'
            USING ERRCODE = 'undefined_object';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'varde_writer' AND (rolsuper OR rolbypassrls OR rolcreaterole)) THEN
        RAISE EXCEPTION 'varde: role varde_writer must not be a superuser, bypass RLS or create roles'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END;
$$;

-- Reference data is versioned, never overwritten: a changed vantage, target or data store is a new row,
-- the latest row of a name is the current one.
ALTER TABLE vantages DROP CONSTRAINT vantages_name_key;
ALTER TABLE targets DROP CONSTRAINT targets_name_key;
ALTER TABLE data_stores DROP CONSTRAINT data_stores_name_key;
CREATE INDEX vantages_name ON vantages (name, id);
CREATE INDEX targets_name ON targets (name, id);
CREATE INDEX data_stores_name ON data_stores (name, id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['vantages', 'targets', 'data_stores']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION varde_refuse_change()',
                       t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION varde_refuse_change()',
                       t || '_no_truncate', t);
    END LOOP;
END;
$$;

-- An audit row changes only while it runs, and then only its status, finish time and chain head; once it
-- has left running it is frozen. DELETE and TRUNCATE are refused.
CREATE FUNCTION varde_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'varde: % on audits refused: audits are never removed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status <> 'running' THEN
        RAISE EXCEPTION 'varde: UPDATE of audit % refused: it is %, and a finished audit is frozen', OLD.id, OLD.status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.id, NEW.kind, NEW.organisation, NEW.period_start, NEW.period_end, NEW.started_at, NEW.tool_version,
        NEW.rules_version, NEW.config)
       IS DISTINCT FROM
       (OLD.id, OLD.kind, OLD.organisation, OLD.period_start, OLD.period_end, OLD.started_at, OLD.tool_version,
        OLD.rules_version, OLD.config) THEN
        RAISE EXCEPTION 'varde: UPDATE of audit % refused: only status, finished_at and the chain head change', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.chain_length < OLD.chain_length THEN
        RAISE EXCEPTION 'varde: UPDATE of audit % refused: the chain only grows', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audits_guard BEFORE UPDATE OR DELETE ON audits FOR EACH ROW EXECUTE FUNCTION varde_audit_change();
CREATE TRIGGER audits_no_truncate BEFORE TRUNCATE ON audits FOR EACH STATEMENT EXECUTE FUNCTION varde_refuse_change();

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO varde_writer;
GRANT SELECT ON schema_version TO varde_writer;
GRANT SELECT, INSERT ON vantages, targets, data_stores, audit_steps, measurements, measurement_samples,
    geo_observations, check_results, findings, reports TO varde_writer;
GRANT SELECT, INSERT ON audits TO varde_writer;
GRANT UPDATE (status, finished_at, chain_length, chain_head) ON audits TO varde_writer;
