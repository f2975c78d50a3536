-- Remote vantage agents (issue 17). An agent runs at a vantage, connects out to `varde serve` and holds no
-- database credentials: it is known here by its Ed25519 public key, bound to one vantage by a one-time
-- enrolment token. An audit's probe step becomes one task per remote vantage; an agent of that vantage
-- leases it (attempt n), heartbeats, and posts a signed result. The result body is kept as the agent signed
-- it; the measurements the server derives from it go into the audit's chain (by the one process that holds
-- the audit), naming the agent, its key, version, clock state and signature.
--
-- Only sha256 of an enrolment token is stored; a token is used once (used_at), within its expiry.
CREATE TABLE agent_enrolments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vantage      text NOT NULL CHECK (vantage <> ''),
    token_sha256 bytea NOT NULL UNIQUE CHECK (octet_length(token_sha256) = 32),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    CHECK (expires_at > created_at)
);

CREATE TABLE agents (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vantage      text NOT NULL,
    name         text NOT NULL,
    public_key   bytea NOT NULL UNIQUE CHECK (octet_length(public_key) = 32),
    enrolment_id bigint NOT NULL UNIQUE REFERENCES agent_enrolments (id),
    version      text NOT NULL,
    enrolled_at  timestamptz NOT NULL,
    last_seen    timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX agents_vantage ON agents (vantage);

-- One task per audit and vantage: a retried job finds the task it made before.
CREATE TABLE agent_tasks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    audit_id      bigint NOT NULL REFERENCES audits (id),
    vantage       text NOT NULL,
    spec          jsonb NOT NULL,
    deadline      timestamptz NOT NULL,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'leased', 'done', 'unavailable')),
    attempt       integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    agent_id      bigint REFERENCES agents (id),
    lease_expires timestamptz,
    heartbeat_at  timestamptz,
    created_at    timestamptz NOT NULL,
    UNIQUE (audit_id, vantage),
    CHECK (state <> 'pending' OR attempt = 0),
    CHECK (state NOT IN ('leased', 'done') OR attempt > 0)
);
CREATE INDEX agent_tasks_open ON agent_tasks (vantage, id) WHERE state IN ('pending', 'leased');

-- Who held which attempt: a result is taken only from the agent that leased that attempt.
CREATE TABLE agent_leases (
    task_id   bigint NOT NULL REFERENCES agent_tasks (id),
    attempt   integer NOT NULL CHECK (attempt > 0),
    agent_id  bigint NOT NULL REFERENCES agents (id),
    leased_at timestamptz NOT NULL,
    PRIMARY KEY (task_id, attempt)
);

-- A result as the agent signed it; idempotent on (task, attempt).
CREATE TABLE agent_results (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id     bigint NOT NULL REFERENCES agent_tasks (id),
    attempt     integer NOT NULL,
    agent_id    bigint NOT NULL REFERENCES agents (id),
    body        bytea NOT NULL,
    body_sha256 bytea NOT NULL CHECK (octet_length(body_sha256) = 32),
    signature   bytea NOT NULL CHECK (octet_length(signature) = 64),
    samples     integer NOT NULL CHECK (samples >= 0),
    received_at timestamptz NOT NULL,
    UNIQUE (task_id, attempt),
    FOREIGN KEY (task_id, attempt) REFERENCES agent_leases (task_id, attempt)
);

-- Monitoring between audits: what a vantage's agents measure every interval, and the signed per-interval
-- summaries they send (min/median/p95/max, loss, a histogram per target and probe kind).
CREATE TABLE agent_monitors (
    vantage    text PRIMARY KEY,
    spec       jsonb NOT NULL,
    interval_s integer NOT NULL CHECK (interval_s >= 1),
    updated_at timestamptz NOT NULL
);

CREATE TABLE agent_summaries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id     bigint NOT NULL REFERENCES agents (id),
    vantage      text NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    body         bytea NOT NULL,
    body_sha256  bytea NOT NULL CHECK (octet_length(body_sha256) = 32),
    signature    bytea NOT NULL CHECK (octet_length(signature) = 64),
    received_at  timestamptz NOT NULL,
    UNIQUE (agent_id, period_start),
    CHECK (period_end > period_start)
);
CREATE INDEX agent_summaries_vantage ON agent_summaries (vantage, period_start);

-- Result bodies are JSON of many samples, stored as sent: compressing each on insert costs more CPU
-- than the disk it saves is worth at ingest rates.
ALTER TABLE agent_results ALTER COLUMN body SET STORAGE EXTERNAL;

-- Leases and results are records of what happened: never changed, never removed.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['agent_leases', 'agent_results', 'agent_summaries']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION varde_refuse_change()',
                       t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION varde_refuse_change()',
                       t || '_no_truncate', t);
    END LOOP;
END;
$$;

-- Revocation and token use are final: a hostile writer cannot bring a revoked agent or a spent token back.
CREATE FUNCTION varde_agent_revoked_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'varde: agent % is revoked, for good', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER agents_revoke_final BEFORE UPDATE ON agents FOR EACH ROW EXECUTE FUNCTION varde_agent_revoked_final();
CREATE FUNCTION varde_enrolment_spent_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.used_at IS NOT NULL AND NEW.used_at IS DISTINCT FROM OLD.used_at THEN
        RAISE EXCEPTION 'varde: enrolment token % is spent', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER agent_enrolments_spent_final BEFORE UPDATE ON agent_enrolments FOR EACH ROW EXECUTE FUNCTION varde_enrolment_spent_final();

REVOKE ALL ON agent_enrolments, agents, agent_tasks, agent_leases, agent_results, agent_monitors, agent_summaries FROM PUBLIC;
GRANT SELECT, INSERT ON agent_enrolments, agents, agent_tasks, agent_leases, agent_results, agent_monitors, agent_summaries
    TO varde_writer;
GRANT UPDATE (spec, interval_s, updated_at) ON agent_monitors TO varde_writer;
GRANT UPDATE (used_at) ON agent_enrolments TO varde_writer;
GRANT UPDATE (last_seen, revoked_at) ON agents TO varde_writer;
GRANT UPDATE (state, attempt, agent_id, lease_expires, heartbeat_at) ON agent_tasks TO varde_writer;
