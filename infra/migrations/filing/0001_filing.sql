-- Filing service (docs/RULES.md §3): cross-region filings (异地就医备案), chronic-disease filings
-- (门慢特病备案, 2503/2504) and the HIS messages that made them (idempotency and 2601 reversal).
-- Filings are never deleted: revoking or changing one sets its status, so a settlement can
-- always be explained by the filing it used.
CREATE SCHEMA IF NOT EXISTS filing;

CREATE TABLE filing.filings (
    filing_id       text PRIMARY KEY,               -- trt_dcla_detl_sn
    psn_no          text NOT NULL,
    insutype        text NOT NULL,
    insured_pool    text NOT NULL,
    type            text NOT NULL CHECK (type IN ('retired_relocated', 'long_term_residence', 'stationed_work',
                                                  'referral', 'temporary')),
    grp             text NOT NULL CHECK (grp IN ('long_term', 'referral', 'temporary')),
    destination     text NOT NULL CHECK (destination ~ '^[0-9]{2}([0-9]{4})?$'),
    -- destination with trailing "00" pairs dropped: the admdvs prefix the filing covers.
    dest_prefix     text NOT NULL CHECK (dest_prefix ~ '^[0-9]{2,6}$'),
    begin           date NOT NULL,
    "end"           date,                           -- NULL: long-term, until revoked
    filed_on        date NOT NULL,                  -- the filing date (6-month no-change rule)
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked', 'superseded')),
    source          text NOT NULL CHECK (source IN ('his', 'online', 'reference')),
    fixmedins_code  text NOT NULL DEFAULT '',        -- the filing hospital ('' for online/reference)
    diag_code       text NOT NULL DEFAULT '',
    diag_name       text NOT NULL DEFAULT '',
    msgid           text NOT NULL DEFAULT '',        -- the HIS message that created it ('' if none)
    changed_from    text REFERENCES filing.filings (filing_id),
    superseded_by   text REFERENCES filing.filings (filing_id),
    revoke_reason   text,                            -- revoked | reversed | reference_removed | superseded
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    CHECK ("end" IS NULL OR "end" >= begin),
    CHECK ((grp = 'long_term') = ("end" IS NULL))
);

-- At most one ACTIVE long-term filing per person and insurance type: a second one must be a
-- change (ChangeFiling), and two racing creates cannot both commit.
CREATE UNIQUE INDEX filings_one_active_long_term ON filing.filings (psn_no, insutype)
    WHERE status = 'active' AND grp = 'long_term';

-- ResolveFiling (settlement hot path): the person's active filings, one index range.
CREATE INDEX filings_active_by_person ON filing.filings (psn_no, insutype, begin)
    WHERE status = 'active';

-- A HIS message creates at most one filing.
CREATE UNIQUE INDEX filings_by_msgid ON filing.filings (fixmedins_code, msgid) WHERE msgid <> '';

CREATE TABLE filing.chronic_filings (
    filing_id         text PRIMARY KEY,
    psn_no            text NOT NULL,
    insutype          text NOT NULL,
    opsp_dise_code    text NOT NULL CHECK (opsp_dise_code ~ '^M[0-9]{5}$'),
    opsp_dise_name    text NOT NULL DEFAULT '',
    ide_fixmedins_no  text NOT NULL DEFAULT '',      -- the identifying hospital
    begndate          date NOT NULL,
    enddate           date,
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    fixmedins_code    text NOT NULL DEFAULT '',      -- the hospital that sent 2503
    msgid             text NOT NULL DEFAULT '',
    qualification_id  text NOT NULL DEFAULT '',      -- the eligibility service's qualification
    cancel_reason     text,                          -- cancelled | reversed
    created_at        timestamptz NOT NULL DEFAULT now(),
    cancelled_at      timestamptz,
    CHECK (enddate IS NULL OR enddate >= begndate)
);

-- One active chronic filing per person, insurance type and disease.
CREATE UNIQUE INDEX chronic_one_active ON filing.chronic_filings (psn_no, insutype, opsp_dise_code)
    WHERE status = 'active';
CREATE UNIQUE INDEX chronic_by_msgid ON filing.chronic_filings (fixmedins_code, msgid) WHERE msgid <> '';

-- Every HIS message that changed something, keyed by (fixmedins_code, msgid): a retry with the
-- same body gets the stored reply, a different body under the same msgid is refused, and 2601
-- finds what to undo. The row is inserted first in the transaction that does the work, so two
-- racing retries serialize on it.
CREATE TABLE filing.messages (
    fixmedins_code  text NOT NULL,
    msgid           text NOT NULL,
    infno           text NOT NULL DEFAULT '',
    kind            text NOT NULL CHECK (kind IN ('create', 'revoke', 'change', 'chronic_file',
                                                  'chronic_cancel', 'reverse')),
    fingerprint     text NOT NULL,                   -- sha-256 of the request without the caller
    psn_no          text NOT NULL DEFAULT '',
    filing_id       text NOT NULL DEFAULT '',        -- the filing or chronic filing it touched
    reply           jsonb,
    reversed_by     text,                            -- msgid of the 2601 that undid it
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fixmedins_code, msgid)
);
