-- Eligibility (docs/RULES.md §2): insured persons, their enrollments per pool/insutype/year,
-- identity groups, chronic-disease qualifications, and the bookkeeping of bulk imports.
-- Reads are served from Redis (services/eligibility/cache.py); every write that affects a
-- person invalidates that person's cache entry after commit. Writes made by other processes
-- inside their own transactions (the reference loader) announce the persons they changed with
-- NOTIFY eligibility_changed (delivered on commit), which the eligibility service turns into
-- cache invalidations.
CREATE SCHEMA IF NOT EXISTS eligibility;

CREATE TABLE eligibility.persons (
    psn_no               text PRIMARY KEY CHECK (psn_no ~ '^[0-9A-Za-z]{1,30}$'),
    certno               text NOT NULL UNIQUE CHECK (certno ~ '^[0-9]{17}[0-9X]$'),
    name                 text NOT NULL CHECK (name <> ''),
    gender               text NOT NULL CHECK (gender IN ('1', '2')),
    birthdate            date NOT NULL,
    social_card          text UNIQUE,              -- social-security card number (certificate type 03)
    card_sn              text,                     -- the card's serial number, checked with it
    cvlserv              boolean NOT NULL DEFAULT false,
    account_balance_fen  bigint NOT NULL DEFAULT 0 CHECK (account_balance_fen >= 0),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- One row per (person, pool, insutype, year). Two rows for the same (person, insutype, year) in
-- different pools is a duplicate enrollment (重复参保): kept, flagged, and the earliest
-- benefit_start wins (services/eligibility/rules.py).
-- status_from: the first day a non-active status applies (TerminateEnrollment); NULL means the
-- status holds for the whole benefit range (as loaded from reference data / bulk CSV).
CREATE TABLE eligibility.enrollments (
    psn_no         text NOT NULL REFERENCES eligibility.persons (psn_no) ON DELETE CASCADE,
    pool           text NOT NULL REFERENCES reference.pools (code),
    insutype       text NOT NULL CHECK (insutype IN ('310', '390')),
    year           integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    psn_type       text NOT NULL CHECK (psn_type IN ('employee', 'retired', 'resident')),
    benefit_start  date NOT NULL,
    benefit_end    date NOT NULL,
    status         text NOT NULL CHECK (status IN ('active', 'paused', 'lapsed', 'terminated')),
    status_from    date,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (psn_no, pool, insutype, year),
    CHECK (benefit_start <= benefit_end)
);
-- The snapshot query reads every enrollment of one person (PK prefix); reports by pool/year:
CREATE INDEX enrollments_pool_year ON eligibility.enrollments (pool, insutype, year);

-- Identity groups (特困, 低保 ...). source: 'reference' rows are replaced by reference loads,
-- 'manual' rows by SetIdentity only.
CREATE TABLE eligibility.identities (
    psn_no       text NOT NULL REFERENCES eligibility.persons (psn_no) ON DELETE CASCADE,
    type         text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]{1,31}$'),
    begin_date   date NOT NULL,
    end_date     date,
    psn_type_lv  text NOT NULL DEFAULT '',
    source       text NOT NULL DEFAULT 'manual' CHECK (source IN ('reference', 'manual')),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (psn_no, type, begin_date),
    CHECK (end_date IS NULL OR begin_date <= end_date)
);

-- 门诊慢特病资格. Revocation ends a qualification (end_date), it never deletes it.
CREATE TABLE eligibility.chronic_qualifications (
    id          bigserial PRIMARY KEY,
    psn_no      text NOT NULL REFERENCES eligibility.persons (psn_no) ON DELETE CASCADE,
    code        text NOT NULL CHECK (code ~ '^[A-Z][0-9]{5}$'),
    begin_date  date NOT NULL,
    end_date    date,
    hospital    text,
    source      text NOT NULL DEFAULT 'grant' CHECK (source IN ('reference', 'grant')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (end_date IS NULL OR begin_date <= end_date)
);
CREATE INDEX chronic_qualifications_psn ON eligibility.chronic_qualifications (psn_no, code);

-- Resumable bulk imports: one row per file content (sha256). last_line is the last CSV line
-- whose batch committed, written in the same transaction as that batch, so a crashed import
-- resumes after it without applying anything twice.
CREATE TABLE eligibility.import_progress (
    file_sha256    text PRIMARY KEY,
    path           text NOT NULL,
    last_line      bigint NOT NULL DEFAULT 1,   -- line 1 is the header
    rows_ok        bigint NOT NULL DEFAULT 0,
    rows_rejected  bigint NOT NULL DEFAULT 0,
    started_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);

-- Rejected rows of a bulk import (line, field, reason), written with their batch; the error
-- report CSV is produced from here, so a resumed import reports each bad row exactly once.
CREATE TABLE eligibility.import_errors (
    file_sha256  text NOT NULL REFERENCES eligibility.import_progress (file_sha256) ON DELETE CASCADE,
    line         bigint NOT NULL,
    field        text NOT NULL,
    reason       text NOT NULL,
    PRIMARY KEY (file_sha256, line, field)
);
