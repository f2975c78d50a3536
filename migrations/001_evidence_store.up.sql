-- varde's evidence store. Reference tables (vantages, targets, data_stores) may change; evidence tables
-- (measurements and their samples, geo_observations, check_results, findings) are append-only and each
-- audit's evidence rows form one hash chain across those tables (seq, prev_hash, hash).

CREATE TABLE vantages (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name <> ''),
    city       text NOT NULL DEFAULT '',
    latitude   double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude  double precision CHECK (longitude BETWEEN -180 AND 180),
    network    text NOT NULL DEFAULT '',   -- e.g. NIX
    asn        bigint CHECK (asn > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE targets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name <> ''),
    host       text NOT NULL,
    port       integer CHECK (port BETWEEN 1 AND 65535),
    label      text NOT NULL DEFAULT '',   -- e.g. "Our DC via NIX"
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE data_stores (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               text NOT NULL UNIQUE CHECK (name <> ''),
    kind               text NOT NULL DEFAULT '',
    location           text NOT NULL,              -- host or URL as written in the inventory
    purpose            text NOT NULL DEFAULT '',
    data_category      text NOT NULL DEFAULT 'ordinary',
    role               text NOT NULL DEFAULT '',   -- controller or processor
    transfer_mechanism text NOT NULL DEFAULT '',   -- adequacy, sccs, bcrs, derogation or empty
    transfer_reference text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audits (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('quarterly', 'ad_hoc', 'sales_comparison')),
    organisation  text NOT NULL DEFAULT '',
    period_start  date,
    period_end    date,
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'succeeded', 'partial', 'failed')),
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    tool_version  text NOT NULL,
    rules_version text NOT NULL DEFAULT '',
    config        jsonb NOT NULL DEFAULT '{}',
    -- The chain head lets verify notice rows cut off the end of the chain.
    chain_length  bigint NOT NULL DEFAULT 0,
    chain_head    bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    CHECK (period_end IS NULL OR period_start IS NULL OR period_end >= period_start)
);

-- What happened to each step of an audit, so a failed step is on record beside what it stored.
CREATE TABLE audit_steps (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    audit_id    bigint NOT NULL REFERENCES audits (id),
    step        text NOT NULL,
    status      text NOT NULL CHECK (status IN ('succeeded', 'failed', 'skipped')),
    message     text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL
);
CREATE INDEX audit_steps_audit ON audit_steps (audit_id);

CREATE TABLE measurements (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    audit_id       bigint NOT NULL REFERENCES audits (id),
    seq            bigint NOT NULL CHECK (seq > 0),
    prev_hash      bytea NOT NULL,
    hash           bytea NOT NULL,
    vantage        text NOT NULL,
    target         text NOT NULL,
    address        text NOT NULL DEFAULT '',
    port           integer NOT NULL DEFAULT 0,
    probe_kind     text NOT NULL CHECK (probe_kind IN ('icmp', 'tcp')),
    sent           integer NOT NULL CHECK (sent >= 0),
    received       integer NOT NULL CHECK (received >= 0),
    duplicates     integer NOT NULL DEFAULT 0,
    failure        text NOT NULL DEFAULT '',
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL,
    tool           text NOT NULL,
    tool_version   text NOT NULL,
    stats          jsonb NOT NULL DEFAULT '{}',
    -- sha256 over the canonical encoding of this measurement's samples, so samples are in the chain too.
    samples_sha256 bytea NOT NULL,
    UNIQUE (audit_id, seq)
);

CREATE TABLE measurement_samples (
    measurement_id bigint NOT NULL REFERENCES measurements (id),
    idx            integer NOT NULL,
    sent_at        timestamptz NOT NULL,
    rtt_ns         bigint,            -- NULL: no reply
    kernel_rtt_ns  bigint,            -- TCP: the kernel's tcpi_rtt right after connect
    duplicate      boolean NOT NULL DEFAULT false,
    retransmits    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (measurement_id, idx)
);

CREATE TABLE geo_observations (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    audit_id            bigint NOT NULL REFERENCES audits (id),
    seq                 bigint NOT NULL CHECK (seq > 0),
    prev_hash           bytea NOT NULL,
    hash                bytea NOT NULL,
    subject             text NOT NULL,       -- the data store (or target) the address belongs to
    host                text NOT NULL DEFAULT '',
    address             text NOT NULL,
    source              text NOT NULL,       -- geoip, cloud, dns
    database_type       text NOT NULL DEFAULT '',
    database_path       text NOT NULL DEFAULT '',
    build_epoch         timestamptz,
    file_sha256         text NOT NULL DEFAULT '',
    located_country     text NOT NULL DEFAULT '',
    registered_country  text NOT NULL DEFAULT '',
    represented_country text NOT NULL DEFAULT '',
    anycast             boolean NOT NULL DEFAULT false,
    details             jsonb NOT NULL DEFAULT '{}',
    observed_at         timestamptz NOT NULL,
    UNIQUE (audit_id, seq)
);

CREATE TABLE check_results (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    audit_id    bigint NOT NULL REFERENCES audits (id),
    seq         bigint NOT NULL CHECK (seq > 0),
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL,
    host        text NOT NULL,
    check_id    text NOT NULL,
    title       text NOT NULL DEFAULT '',
    category    text NOT NULL DEFAULT '',
    result      text NOT NULL CHECK (result IN ('pass', 'warn', 'fail', 'notapplicable', 'error')),
    observed    text NOT NULL DEFAULT '',
    expected    text NOT NULL DEFAULT '',
    remediation text NOT NULL DEFAULT '',
    details     jsonb NOT NULL DEFAULT '{}',
    checked_at  timestamptz NOT NULL,
    UNIQUE (audit_id, seq)
);

CREATE TABLE findings (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    audit_id        bigint NOT NULL REFERENCES audits (id),
    seq             bigint NOT NULL CHECK (seq > 0),
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL,
    subject         text NOT NULL,
    rule_id         text NOT NULL,
    legal_reference text NOT NULL DEFAULT '',
    severity        text NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    verdict         text NOT NULL,
    summary         text NOT NULL DEFAULT '',
    evidence        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    UNIQUE (audit_id, seq)
);

CREATE TABLE reports (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    audit_id           bigint NOT NULL REFERENCES audits (id),
    kind               text NOT NULL CHECK (kind IN ('compliance', 'sales')),
    path               text NOT NULL DEFAULT '',
    sha256             text NOT NULL,
    signer_fingerprint text NOT NULL,
    created_at         timestamptz NOT NULL
);
CREATE INDEX reports_audit ON reports (audit_id);

-- Append-only evidence: UPDATE, DELETE and TRUNCATE are refused with an error that says why.
CREATE FUNCTION varde_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'varde: % on % refused: evidence is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['measurements', 'measurement_samples', 'geo_observations', 'check_results',
                             'findings', 'audit_steps', 'reports']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION varde_refuse_change()',
                       t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION varde_refuse_change()',
                       t || '_no_truncate', t);
    END LOOP;
END;
$$;
