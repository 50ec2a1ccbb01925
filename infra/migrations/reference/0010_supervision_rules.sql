-- Fund-supervision rules (DOMAIN.md §10, docs/REFERENCE_DATA.md §10): one entry per pool and
-- year, versioned like policies: a load whose canonical body differs from the latest version
-- inserts version + 1, effective from the load. body_text is the canonical JSON the loader wrote.
CREATE TABLE reference.supervision_rules (
    pool            text NOT NULL REFERENCES reference.pools (code),
    year            integer NOT NULL,
    version         integer NOT NULL CHECK (version >= 1),
    effective_from  timestamptz NOT NULL DEFAULT now(),
    body_text       text NOT NULL,
    PRIMARY KEY (pool, year, version)
);
