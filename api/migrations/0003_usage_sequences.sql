-- The usage records the collector has counted, per cluster and broker: the brokers' sequence
-- numbers as JSON ranges [[first, last], ...]. A window resent after a lost answer repeats its
-- (broker, sequence) and is skipped. Written in the same transaction as the hourly rows.
CREATE TABLE usage_sequences (
    cluster_id  TEXT NOT NULL REFERENCES clusters (id),
    broker_id   BIGINT NOT NULL,
    ranges      TEXT NOT NULL,
    PRIMARY KEY (cluster_id, broker_id)
);
