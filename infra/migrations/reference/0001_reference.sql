-- Reference data (docs/REFERENCE_DATA.md): pools, hospitals, catalogues, versioned policies.
-- Read-mostly; every process caches it (services/refdata/cache.py) and reloads on
-- NOTIFY reference_changed, which services/refdata/store.py sends after a load that changed
-- anything (pg_notify inside the load transaction: delivered only if it commits).
CREATE SCHEMA IF NOT EXISTS reference;

CREATE TABLE reference.pools (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    insutypes   text[] NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The admdvs codes a pool holds. A pool listed in a document replaces its whole set.
-- "At most one pool per (admdvs, insutype)" is checked by the validator (insutypes live on pools).
CREATE TABLE reference.pool_admdvs (
    pool    text NOT NULL REFERENCES reference.pools (code) ON DELETE CASCADE,
    admdvs  text NOT NULL CHECK (admdvs ~ '^[0-9]{6}$'),
    PRIMARY KEY (pool, admdvs)
);
CREATE INDEX pool_admdvs_admdvs ON reference.pool_admdvs (admdvs);

CREATE TABLE reference.hospitals (
    code            text PRIMARY KEY,
    name            text NOT NULL,
    admdvs          text NOT NULL CHECK (admdvs ~ '^[0-9]{6}$'),
    level           smallint NOT NULL CHECK (level BETWEEN 1 AND 3),
    cross_province  boolean NOT NULL,
    paasid          text NOT NULL UNIQUE,
    secret          text NOT NULL CHECK (length(secret) >= 32),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One catalogue per pool (the treatment place's catalogue), upserted by (pool, code); a load
-- with replace_catalogues also deletes the items its document no longer lists.
CREATE TABLE reference.catalogue_items (
    pool           text NOT NULL REFERENCES reference.pools (code) ON DELETE CASCADE,
    code           text NOT NULL,
    name           text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('drug', 'service', 'material')),
    cls            text NOT NULL CHECK (cls IN ('01', '02', '03')),
    selfpay_prop   numeric NOT NULL DEFAULT 0 CHECK (selfpay_prop BETWEEN 0 AND 1),
    price_cap_fen  bigint CHECK (price_cap_fen >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pool, code)
);

-- Policies are versioned, never updated: a load whose canonical body differs from the latest
-- version inserts version + 1, effective from the load. `body_text` is the canonical JSON text
-- the loader wrote (jsonb does not keep object key order, and the order of `assistance` is
-- meaningful); `body` is the same document as jsonb for querying.
CREATE TABLE reference.policies (
    pool            text NOT NULL REFERENCES reference.pools (code),
    insutype        text NOT NULL CHECK (insutype IN ('310', '390')),
    year            integer NOT NULL,
    version         integer NOT NULL CHECK (version >= 1),
    effective_from  timestamptz NOT NULL DEFAULT now(),
    body            jsonb NOT NULL,
    body_text       text NOT NULL,
    PRIMARY KEY (pool, insutype, year, version)
);

-- One row per load that changed something: what changed, for the audit trail.
CREATE TABLE reference.loads (
    id         bigserial PRIMARY KEY,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    report     jsonb NOT NULL
);
