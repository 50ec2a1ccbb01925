-- Settlement (docs/RULES.md §4–§6): visits and their fees, the transaction journal that makes every
-- mutating HIS call exactly-once, settlements and their fund lines, the double-entry ledger,
-- per-person accumulators, reconciliation and monthly clearing.
--
-- Rules the code relies on:
-- * Nothing that moved money is ever deleted: a reversal (冲销) is a NEW settlement row with
--   negated amounts that points at the original (reverses_setl_id, unique: one reversal each).
-- * Money is bigint fen. Each settlement row satisfies the three identities (CHECKs below).
-- * accumulators holds ONE row per (psn_no, insutype, year); writers use a version check
--   (optimistic concurrency), so two concurrent settlements of one person cannot both pass.
CREATE SCHEMA IF NOT EXISTS settlement;

CREATE TABLE settlement.visits (
    mdtrt_id         text PRIMARY KEY,
    fixmedins_code   text NOT NULL,
    psn_no           text NOT NULL,
    insutype         text NOT NULL,
    insured_pool     text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('outpatient', 'inpatient')),
    med_type         text NOT NULL DEFAULT '',
    begntime         timestamp NOT NULL,
    endtime          timestamp,
    status           text NOT NULL CHECK (status IN ('open', 'discharged', 'settled', 'cancelled')),
    ipt_otp_no       text NOT NULL DEFAULT '',
    dise_codg        text NOT NULL DEFAULT '',
    dise_name        text NOT NULL DEFAULT '',
    dept_code        text NOT NULL DEFAULT '',
    dept_name        text NOT NULL DEFAULT '',
    atddr_no         text NOT NULL DEFAULT '',
    dr_name          text NOT NULL DEFAULT '',
    mdtrt_cert_type  text NOT NULL DEFAULT '',
    mdtrt_cert_no    text NOT NULL DEFAULT '',
    emergency        boolean NOT NULL DEFAULT false,
    dscg_way         text NOT NULL DEFAULT '',
    -- Bumped by every fee upload/cancel: a settlement computed on an older fee list must not commit.
    fees_version     integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visits_psn ON settlement.visits (psn_no);
CREATE INDEX visits_hospital ON settlement.visits (fixmedins_code, begntime);

-- Fee details as uploaded, with the per-item split of the treatment place's catalogue at upload.
-- setl_id is set when a settlement takes the fee and cleared again when that settlement is
-- reversed, so the HIS can settle again.
CREATE TABLE settlement.fee_details (
    mdtrt_id              text NOT NULL REFERENCES settlement.visits (mdtrt_id),
    feedetl_sn            text NOT NULL,
    chrg_bchno            text NOT NULL DEFAULT '',
    fee_ocur_time         text NOT NULL DEFAULT '',
    med_list_codg         text NOT NULL,
    medins_list_codg      text NOT NULL DEFAULT '',
    name                  text NOT NULL DEFAULT '',
    cnt                   numeric NOT NULL,
    pric_fen              bigint NOT NULL,
    det_item_fee_sumamt_fen bigint NOT NULL,
    chrgitm_lv            text NOT NULL,
    selfpay_prop          numeric NOT NULL DEFAULT 0,
    pric_uplmt_amt_fen    bigint,
    fulamt_ownpay_fen     bigint NOT NULL,
    overlmt_fen           bigint NOT NULL,
    preselfpay_fen        bigint NOT NULL,
    inscp_fen             bigint NOT NULL,
    seq                   integer NOT NULL,
    setl_id               text,
    uploaded_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mdtrt_id, feedetl_sn)
);
CREATE INDEX fee_details_setl ON settlement.fee_details (setl_id) WHERE setl_id IS NOT NULL;

-- The journal: one row per (hospital, msgid) of every mutating call, claimed inside the same
-- transaction as the change it records. digest = sha256 of the request's deterministic protobuf
-- serialization (the whole request: a retry must be byte-identical in meaning); reply = the
-- serialized reply returned again to a retry with the same digest.
CREATE TABLE settlement.transactions (
    fixmedins_code  text NOT NULL,
    msgid           text NOT NULL,
    infno           text NOT NULL,
    digest          bytea NOT NULL,
    reply           bytea NOT NULL,
    psn_no          text NOT NULL DEFAULT '',
    mdtrt_id        text NOT NULL DEFAULT '',
    setl_id         text NOT NULL DEFAULT '',
    -- What 2601 needs to undo the call: the kind of effect and its target.
    effect          text NOT NULL DEFAULT '',
    undo            jsonb NOT NULL DEFAULT '{}'::jsonb,
    reversed_by     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fixmedins_code, msgid)
);

CREATE TABLE settlement.settlements (
    setl_id            text PRIMARY KEY,
    mdtrt_id           text NOT NULL REFERENCES settlement.visits (mdtrt_id),
    psn_no             text NOT NULL,
    psn_name           text NOT NULL DEFAULT '',
    psn_type           text NOT NULL DEFAULT '',
    insutype           text NOT NULL,
    year               integer NOT NULL,
    fixmedins_code     text NOT NULL,
    insured_pool       text NOT NULL,
    treatment_pool     text NOT NULL,
    med_type           text NOT NULL,
    line               text NOT NULL,
    region_class       text NOT NULL,
    filing_group       text NOT NULL DEFAULT '',
    ratio              numeric NOT NULL,
    clr_type           text NOT NULL,
    clr_way            text NOT NULL DEFAULT '',
    medfee_sumamt      bigint NOT NULL,
    fulamt_ownpay_amt  bigint NOT NULL,
    overlmt_selfpay    bigint NOT NULL,
    preselfpay_amt     bigint NOT NULL,
    inscp_scp_amt      bigint NOT NULL,
    act_pay_dedc       bigint NOT NULL,
    hifp_pay           bigint NOT NULL,
    cvlserv_pay        bigint NOT NULL,
    hifes_pay          bigint NOT NULL,
    hifmi_pay          bigint NOT NULL,
    hifob_pay          bigint NOT NULL,
    maf_pay            bigint NOT NULL,
    oth_pay            bigint NOT NULL,
    fund_pay_sumamt    bigint NOT NULL,
    psn_part_amt       bigint NOT NULL,
    acct_pay           bigint NOT NULL,
    psn_cash_pay       bigint NOT NULL,
    hosp_part_amt      bigint NOT NULL,
    balc_fen           bigint NOT NULL DEFAULT 0,
    -- settled: in force; cancelled: an original that a reversal undid; reversal: the negated booking.
    status             text NOT NULL CHECK (status IN ('settled', 'cancelled', 'reversal')),
    reverses_setl_id   text UNIQUE REFERENCES settlement.settlements (setl_id),
    setl_time          timestamptz NOT NULL,
    -- The clearing month (YYYYMM): the original's month, also on its reversal, so a month that
    -- has been cleared never changes afterwards.
    setlym             text NOT NULL,
    setl_date          date NOT NULL,
    deltas             jsonb NOT NULL,   -- accumulator deltas this booking applied
    caps               jsonb NOT NULL,   -- the caps the engine bound them by
    result             jsonb NOT NULL,   -- the engine's whole result (items, fund lines, explanation)
    msgid              text NOT NULL,
    CONSTRAINT settlements_msgid UNIQUE (fixmedins_code, msgid),
    CONSTRAINT settlements_parts CHECK (medfee_sumamt = fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt),
    CONSTRAINT settlements_split CHECK (medfee_sumamt = fund_pay_sumamt + psn_part_amt + hosp_part_amt),
    CONSTRAINT settlements_funds CHECK (fund_pay_sumamt = hifp_pay + cvlserv_pay + hifes_pay + hifmi_pay + hifob_pay + maf_pay + oth_pay),
    CONSTRAINT settlements_person CHECK (psn_part_amt = acct_pay + psn_cash_pay),
    CONSTRAINT settlements_reversal CHECK ((status = 'reversal') = (reverses_setl_id IS NOT NULL))
);
CREATE INDEX settlements_hospital_date ON settlement.settlements (fixmedins_code, setl_date);
CREATE INDEX settlements_mdtrt ON settlement.settlements (mdtrt_id);
CREATE INDEX settlements_setlym ON settlement.settlements (setlym);
CREATE INDEX settlements_person ON settlement.settlements (psn_no, insutype, year);

-- setldetail rows.
CREATE TABLE settlement.settlement_funds (
    setl_id               text NOT NULL REFERENCES settlement.settlements (setl_id),
    line_no               smallint NOT NULL,
    fund_pay_type         text NOT NULL,
    fund_pay_type_name    text NOT NULL,
    inscp_scp_amt_fen     bigint NOT NULL,
    crt_payb_lmt_amt_fen  bigint,
    fund_payamt_fen       bigint NOT NULL,
    setl_proc_info        text NOT NULL DEFAULT '',
    PRIMARY KEY (setl_id, line_no)
);

-- Double entry: amount_fen > 0 is a debit, < 0 a credit; each transfer is two rows summing to 0.
-- Accounts: fund:<insured pool>:<fund_pay_type>, acct:<insured pool> (personal accounts),
-- clearing:<treatment pool>, receivable:<hospital>. Local: fund → receivable. Cross-region fund
-- lines go fund → clearing of the treatment pool (which advanced them) → receivable; that first
-- leg is what monthly clearing bills the insured pool for. Personal-account payments are not
-- advanced by the treatment pool: acct → receivable directly, also cross-region.
CREATE TABLE settlement.ledger_entries (
    setl_id         text NOT NULL REFERENCES settlement.settlements (setl_id),
    entry_no        smallint NOT NULL,
    transfer_no     smallint NOT NULL,
    -- advance: insured pool fund -> treatment pool clearing (what clearing bills); pay: -> hospital.
    leg             text NOT NULL CHECK (leg IN ('advance', 'pay')),
    account         text NOT NULL,
    fund_pay_type   text NOT NULL,
    amount_fen      bigint NOT NULL,
    insured_pool    text NOT NULL,
    treatment_pool  text NOT NULL,
    setlym          text NOT NULL,
    PRIMARY KEY (setl_id, entry_no)
);
CREATE INDEX ledger_clearing ON settlement.ledger_entries (setlym, account) WHERE leg = 'advance';

-- One row per person, insurance type and year: the engine's flat accumulator keys.
-- caps: the bound recorded for each key by the latest settlement that moved it.
CREATE TABLE settlement.accumulators (
    psn_no      text NOT NULL,
    insutype    text NOT NULL,
    year        integer NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    caps        jsonb NOT NULL DEFAULT '{}'::jsonb,
    version     bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (psn_no, insutype, year)
);

-- True when no key of `data` exceeds its cap in `caps` (used by the CHECK below and the auditor).
CREATE FUNCTION settlement.within_caps(data jsonb, caps jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT NOT EXISTS (
        SELECT 1 FROM jsonb_each_text(caps) c
        WHERE coalesce((data ->> c.key)::bigint, 0) > c.value::bigint)
$$;
ALTER TABLE settlement.accumulators
    ADD CONSTRAINT accumulators_within_caps CHECK (settlement.within_caps(data, caps));

-- Monthly clearing: one run per month, never recomputed (a second request returns it).
CREATE TABLE settlement.clearing_runs (
    run_id      text PRIMARY KEY,
    setlym      text NOT NULL UNIQUE CHECK (setlym ~ '^[0-9]{6}$'),
    settlement_count bigint NOT NULL,
    fund_fen    bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE settlement.clearing_statements (
    run_id           text NOT NULL REFERENCES settlement.clearing_runs (run_id),
    setlym           text NOT NULL,
    insured_pool     text NOT NULL,   -- owes
    treatment_pool   text NOT NULL,   -- is owed
    settlement_count bigint NOT NULL,
    fund_fen         bigint NOT NULL,
    PRIMARY KEY (run_id, insured_pool, treatment_pool)
);

CREATE TABLE settlement.clearing_positions (
    run_id          text NOT NULL REFERENCES settlement.clearing_runs (run_id),
    setlym          text NOT NULL,
    pool            text NOT NULL,
    receivable_fen  bigint NOT NULL,
    payable_fen     bigint NOT NULL,
    net_fen         bigint NOT NULL,
    CONSTRAINT clearing_positions_month UNIQUE (setlym, pool),
    CHECK (net_fen = receivable_fen - payable_fen)
);

-- 3203: a hospital's monthly clearing application and how it compared with the platform.
CREATE TABLE settlement.clearing_applications (
    clr_appy_evt_id      text PRIMARY KEY,
    fixmedins_code       text NOT NULL,
    msgid                text NOT NULL,
    setlym               text NOT NULL,
    clr_type             text NOT NULL DEFAULT '',
    clr_way              text NOT NULL DEFAULT '',
    psntime              bigint NOT NULL,
    medfee_sumamt_fen    bigint NOT NULL,
    fund_appy_sum_fen    bigint NOT NULL,
    cash_payamt_fen      bigint NOT NULL,
    acct_pay_fen         bigint NOT NULL,
    begndate             text NOT NULL DEFAULT '',
    enddate              text NOT NULL DEFAULT '',
    platform_psntime     bigint NOT NULL,
    platform_medfee_fen  bigint NOT NULL,
    platform_fund_fen    bigint NOT NULL,
    status               text NOT NULL CHECK (status IN ('accepted', 'mismatch')),
    memo                 text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (fixmedins_code, msgid)
);
