-- The control plane's schema. Portable between SQLite and PostgreSQL: TEXT ids (UUID
-- strings), BIGINT unix-millisecond timestamps, BIGINT 0/1 booleans, no database-specific
-- types or functions.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);
CREATE UNIQUE INDEX tenants_name ON tenants (name);
CREATE INDEX tenants_page ON tenants (created_at, id);

-- Users and service accounts of a tenant, and the platform administrators (tenant_id NULL).
CREATE TABLE principals (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT REFERENCES tenants (id),
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    email       TEXT,
    role        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX principals_name ON principals (tenant_id, kind, name);
CREATE INDEX principals_page ON principals (tenant_id, kind, created_at, id);

-- API keys: only the SHA-256 of the secret is kept.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    principal_id  TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    tenant_id     TEXT,
    name          TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_page ON api_keys (tenant_id, created_at, id);

-- JWT signing keys (Ed25519). The newest non-retired key signs; every key verifies until
-- `verify_until`.
CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    private_pkcs8 TEXT NOT NULL,
    public_x      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    retired_at    BIGINT,
    verify_until  BIGINT
);

CREATE TABLE clusters (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    name            TEXT NOT NULL,
    state           TEXT NOT NULL,
    state_reason    TEXT NOT NULL,
    brokers         BIGINT NOT NULL,
    max_partitions  BIGINT NOT NULL,
    ingress_mbps    BIGINT NOT NULL,
    egress_mbps     BIGINT NOT NULL,
    bootstrap       TEXT,
    ca_cert_pem     TEXT,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
-- A name is taken until its cluster is deleted.
CREATE UNIQUE INDEX clusters_live_name ON clusters (tenant_id, name) WHERE state <> 'deleted';
CREATE INDEX clusters_page ON clusters (tenant_id, created_at, id);
CREATE INDEX clusters_state ON clusters (state);

-- Every state transition of a cluster, with its reason.
CREATE TABLE cluster_events (
    id          TEXT PRIMARY KEY,
    cluster_id  TEXT NOT NULL REFERENCES clusters (id),
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX cluster_events_page ON cluster_events (cluster_id, created_at, id);

-- SASL/SCRAM users of a cluster; the password is never stored.
CREATE TABLE scram_credentials (
    id          TEXT PRIMARY KEY,
    cluster_id  TEXT NOT NULL REFERENCES clusters (id),
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    username    TEXT NOT NULL,
    mechanisms  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX scram_credentials_username ON scram_credentials (cluster_id, username);
CREATE INDEX scram_credentials_page ON scram_credentials (cluster_id, created_at, id);

CREATE TABLE acls (
    id             TEXT PRIMARY KEY,
    cluster_id     TEXT NOT NULL REFERENCES clusters (id),
    tenant_id      TEXT NOT NULL,
    principal      TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    pattern_type   TEXT NOT NULL,
    resource_name  TEXT NOT NULL,
    operation      TEXT NOT NULL,
    permission     TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX acls_page ON acls (cluster_id, created_at, id);

-- Responses to POSTs carrying an Idempotency-Key, replayed for the same key.
CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        BIGINT NOT NULL,
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
