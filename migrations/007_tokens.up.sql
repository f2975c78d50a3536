-- API tokens for `varde serve`. Only each token's SHA-256 is kept: the token itself is shown once, when it
-- is made, and a database dump holds nothing that opens the API. A token is never deleted: revoking it
-- sets revoked_at, so the record of who could do what, and when, stays.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    sha256       bytea NOT NULL UNIQUE CHECK (length(sha256) = 32),
    scopes       text[] NOT NULL
                 CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['audits:read', 'audits:run', 'schedules:write',
                                                                     'reports:read', 'evidence:read', 'tokens:admin']),
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL CHECK (expires_at > created_at),
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- A token changes only by being revoked (once) or used; its name, digest, scopes and expiry never change.
CREATE FUNCTION varde_token_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'varde: % on api_tokens refused: revoke a token instead', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.id, NEW.name, NEW.sha256, NEW.scopes, NEW.created_by, NEW.created_at, NEW.expires_at)
       IS DISTINCT FROM (OLD.id, OLD.name, OLD.sha256, OLD.scopes, OLD.created_by, OLD.created_at, OLD.expires_at) THEN
        RAISE EXCEPTION 'varde: UPDATE of api token % refused: only revoked_at and last_used_at change', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'varde: api token % is revoked, and stays revoked', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER api_tokens_guard BEFORE UPDATE OR DELETE ON api_tokens FOR EACH ROW EXECUTE FUNCTION varde_token_change();
CREATE TRIGGER api_tokens_no_truncate BEFORE TRUNCATE ON api_tokens FOR EACH STATEMENT EXECUTE FUNCTION varde_refuse_change();

REVOKE ALL ON api_tokens FROM PUBLIC;
GRANT SELECT, INSERT ON api_tokens TO varde_writer;
GRANT UPDATE (revoked_at, last_used_at) ON api_tokens TO varde_writer;
