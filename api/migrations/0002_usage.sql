-- Usage collected from each cluster's __fjord_usage topic, aggregated per hour.

-- Traffic per cluster, hour, topic and principal.
CREATE TABLE usage_hourly (
    cluster_id   TEXT NOT NULL REFERENCES clusters (id),
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    hour_ms      BIGINT NOT NULL,
    topic        TEXT NOT NULL,
    principal    TEXT NOT NULL,
    bytes_in     BIGINT NOT NULL DEFAULT 0,
    records_in   BIGINT NOT NULL DEFAULT 0,
    bytes_out    BIGINT NOT NULL DEFAULT 0,
    records_out  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (cluster_id, hour_ms, topic, principal)
);
CREATE INDEX usage_hourly_tenant ON usage_hourly (tenant_id, hour_ms);

-- Storage per cluster, hour and topic: bytes stored and partitions, each integrated over
-- the time the samples cover (byte-seconds, partition-seconds).
CREATE TABLE storage_hourly (
    cluster_id    TEXT NOT NULL REFERENCES clusters (id),
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    hour_ms       BIGINT NOT NULL,
    topic         TEXT NOT NULL,
    byte_seconds       BIGINT NOT NULL DEFAULT 0,
    partition_seconds  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (cluster_id, hour_ms, topic)
);
CREATE INDEX storage_hourly_tenant ON storage_hourly (tenant_id, hour_ms);

-- Where the collector continues in each cluster's __fjord_usage; written in the same
-- transaction as the rows, so a crash neither loses nor double-counts.
CREATE TABLE usage_offsets (
    cluster_id   TEXT PRIMARY KEY REFERENCES clusters (id),
    next_offset  BIGINT NOT NULL
);
