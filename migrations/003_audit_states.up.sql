-- Audit states that tell the truth. An audit whose run was stopped (a signal, a lost database, a process
-- that is gone) ends as 'interrupted', never left 'running'. Once an audit has left 'running' the database
-- itself refuses new evidence for it and refuses to move it anywhere else, so nothing can be added to a
-- closed record, whichever program or role tries.
ALTER TABLE audits DROP CONSTRAINT audits_status_check;
ALTER TABLE audits ADD CONSTRAINT audits_status_check
    CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted'));

CREATE FUNCTION varde_refuse_closed_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE st text;
BEGIN
    SELECT status INTO st FROM audits WHERE id = NEW.audit_id;
    IF st IS DISTINCT FROM 'running' THEN
        RAISE EXCEPTION 'varde: audit % is %: it takes no more evidence', NEW.audit_id, coalesce(st, 'missing')
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END;
$$;

DO $$
DECLARE t text;
BEGIN
    -- measurement_samples has no audit of its own: its rows are bound into their measurement's hash.
    FOREACH t IN ARRAY ARRAY['measurements', 'geo_observations', 'check_results', 'findings']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE INSERT ON %I FOR EACH ROW EXECUTE FUNCTION varde_refuse_closed_audit()',
                       t || '_open_audit', t);
    END LOOP;
END;
$$;

-- A final status is final: no way back to 'running' and no change from one final status to another.
CREATE FUNCTION varde_final_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'running' AND NEW.status IS DISTINCT FROM OLD.status THEN
        RAISE EXCEPTION 'varde: audit % is %: its status cannot change to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audits_final_status BEFORE UPDATE OF status ON audits
    FOR EACH ROW EXECUTE FUNCTION varde_final_status();
