-- Billing: price books, final invoices and their lines, months to recheck for adjustments,
-- budgets and their alerts. Money and quantities are decimal strings (exact on SQLite and
-- PostgreSQL alike); times are unix milliseconds.

-- Versions are never updated; the one in force at an hour prices it.
CREATE TABLE price_books (
    version               BIGINT PRIMARY KEY,
    effective_from        BIGINT NOT NULL,
    currency              TEXT NOT NULL,
    data_in_per_gb        TEXT NOT NULL,
    data_out_per_gb       TEXT NOT NULL,
    storage_per_gb_month  TEXT NOT NULL,
    partition_hour        TEXT NOT NULL,
    cluster_hour          TEXT NOT NULL,
    note                  TEXT,
    created_at            BIGINT NOT NULL
);

-- Final invoices ('invoice', id YYYY-MM, seq 0) and adjustments (id YYYY-MM-A<seq>).
CREATE TABLE invoices (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    month_start  BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    adjusts      TEXT,
    currency     TEXT NOT NULL,
    total        TEXT NOT NULL,
    issued_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX invoices_month ON invoices (tenant_id, month_start);

CREATE TABLE invoice_lines (
    tenant_id           TEXT NOT NULL,
    invoice_id          TEXT NOT NULL,
    line_no             BIGINT NOT NULL,
    cluster_id          TEXT NOT NULL,
    dimension           TEXT NOT NULL,
    quantity            TEXT NOT NULL,
    unit_price          TEXT NOT NULL,
    price_book_version  BIGINT NOT NULL,
    amount              TEXT NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, line_no)
);

-- Finalised months whose usage changed (late records): recomputed by the billing job.
CREATE TABLE billing_recheck (
    tenant_id    TEXT NOT NULL,
    month_start  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month_start)
);

CREATE TABLE budgets (
    tenant_id       TEXT PRIMARY KEY REFERENCES tenants (id),
    monthly_amount  TEXT NOT NULL,
    webhook_url     TEXT,
    updated_at      BIGINT NOT NULL
);

-- One alert per tenant, month and threshold (50, 80, 100).
CREATE TABLE budget_alerts (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    month_start    BIGINT NOT NULL,
    threshold      BIGINT NOT NULL,
    spent          TEXT NOT NULL,
    budget         TEXT NOT NULL,
    currency       TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    webhook_url    TEXT,
    webhook_state  TEXT NOT NULL,
    attempts       BIGINT NOT NULL,
    UNIQUE (tenant_id, month_start, threshold)
);
CREATE INDEX budget_alerts_tenant ON budget_alerts (tenant_id, created_at);
