-- The scheduled audit service (`varde serve`): uploaded audit configs (versioned, never overwritten),
-- schedules, one row per audit run (scheduled or started by hand), and guest snapshots uploaded for the
-- next audit of a config. These tables are the service's bookkeeping, not evidence: an audit's evidence
-- stays in the append-only tables and its chain. River's own tables (its job queue) are made by
-- rivermigrate from `varde db migrate`, after this file.

-- A config version is what was uploaded, byte for byte, and never changes.
CREATE TABLE audit_configs (
    name       text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    version    integer NOT NULL CHECK (version >= 1),
    sha256     text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    body       text NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    PRIMARY KEY (name, version)
);

-- next_run_at is the next planned time: the transaction that enqueues a run advances it, so every
-- replica agrees on what is due. time_zone is the zone the spec is read in (CRON_TZ=..., default UTC).
CREATE TABLE schedules (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    config_name text NOT NULL CHECK (config_name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    spec        text NOT NULL CHECK (length(spec) BETWEEN 1 AND 256),
    time_zone   text NOT NULL,
    enabled     boolean NOT NULL,
    next_run_at timestamptz NOT NULL,
    last_run_id bigint,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- One row per run. A scheduled run is unique per schedule and planned time, which is what keeps two
-- replicas (or a replica and its restart) from enqueueing the same run twice.
CREATE TABLE audit_runs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    config_name    text NOT NULL,
    config_version integer NOT NULL,
    schedule_id    bigint REFERENCES schedules (id),
    planned_at     timestamptz NOT NULL,
    enqueued_at    timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,
    status         text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'partial', 'failed', 'interrupted')),
    late           boolean NOT NULL DEFAULT false,
    missed         integer NOT NULL DEFAULT 0 CHECK (missed >= 0),
    attempts       integer NOT NULL DEFAULT 0,
    audit_id       bigint UNIQUE REFERENCES audits (id),
    job_id         bigint,
    requested_by   text NOT NULL DEFAULT '',
    error          text NOT NULL DEFAULT '',
    FOREIGN KEY (config_name, config_version) REFERENCES audit_configs (name, version),
    UNIQUE (schedule_id, planned_at)
);
CREATE INDEX audit_runs_config ON audit_runs (config_name, id);
CREATE INDEX audit_runs_status ON audit_runs (status, id);
ALTER TABLE schedules ADD FOREIGN KEY (last_run_id) REFERENCES audit_runs (id);

-- A snapshot waits (run_id NULL) until the next audit of its config claims it.
CREATE TABLE guest_snapshots (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    config_name text NOT NULL,
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        bigint NOT NULL CHECK (size > 0),
    host        text NOT NULL DEFAULT '',
    body        bytea NOT NULL,
    uploaded_at timestamptz NOT NULL,
    uploaded_by text NOT NULL,
    run_id      bigint REFERENCES audit_runs (id)
);
CREATE INDEX guest_snapshots_waiting ON guest_snapshots (config_name, id) WHERE run_id IS NULL;

-- Config versions and deleted history would let a run point at a config nobody can read again.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit_configs']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION varde_refuse_change()',
                       t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION varde_refuse_change()',
                       t || '_no_truncate', t);
    END LOOP;
END;
$$;

-- A run that has reached a final status keeps it, as an audit does.
CREATE FUNCTION varde_run_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'varde: % on audit_runs refused: runs are never removed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status NOT IN ('queued', 'running') AND NEW IS DISTINCT FROM OLD THEN
        RAISE EXCEPTION 'varde: run % is %: a finished run is frozen', OLD.id, OLD.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF OLD.audit_id IS NOT NULL AND NEW.audit_id IS DISTINCT FROM OLD.audit_id THEN
        RAISE EXCEPTION 'varde: run % already has audit %', OLD.id, OLD.audit_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_runs_guard BEFORE UPDATE OR DELETE ON audit_runs FOR EACH ROW EXECUTE FUNCTION varde_run_change();

REVOKE ALL ON audit_configs, schedules, audit_runs, guest_snapshots FROM PUBLIC;
GRANT SELECT, INSERT ON audit_configs TO varde_writer;
GRANT SELECT, INSERT, UPDATE ON schedules, audit_runs TO varde_writer;
GRANT SELECT, INSERT ON guest_snapshots TO varde_writer;
GRANT UPDATE (run_id) ON guest_snapshots TO varde_writer;
