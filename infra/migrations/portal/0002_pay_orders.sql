-- Mobile payment (医保移动支付, issue #16): the pay orders the gateway keeps for 6201..6401 and the
-- patient's pay page. Owned by the gateway (gateway/mobilepay/repository.py is the only SQL).
-- Money is integer fen. State changes are conditional (UPDATE ... WHERE state = expected), so a
-- double click or two concurrent 6202 cannot move one order twice (docs/MOBILE_PAYMENT.md).
CREATE SCHEMA IF NOT EXISTS portal;

CREATE TABLE IF NOT EXISTS portal.pay_orders (
    pay_ord_id        text PRIMARY KEY,
    fixmedins_code    text NOT NULL,
    msgid             text NOT NULL,          -- the 6201 that created it: a retried 6201 finds it
    request_digest    text NOT NULL,
    pay_token_hash    text NOT NULL,          -- sha256 of the payToken (compared in constant time)
    psn_no            text NOT NULL,
    mdtrt_id          text NOT NULL,
    insutype          text NOT NULL,
    med_type          text NOT NULL,
    med_org_ord       text NOT NULL,
    chrg_bchno        text NOT NULL DEFAULT '',
    acct_used_flag    boolean NOT NULL,
    psn_setlway       text NOT NULL,
    cert_type         text NOT NULL,
    cert_no           text NOT NULL,
    medfee_fen        bigint NOT NULL CHECK (medfee_fen >= 0),
    fund_fen          bigint NOT NULL,
    acct_fen          bigint NOT NULL,
    cash_fen          bigint NOT NULL CHECK (cash_fen >= 0),
    hosp_part_fen     bigint NOT NULL DEFAULT 0,
    fulamt_ownpay_fen bigint NOT NULL,
    overlmt_selfpay_fen bigint NOT NULL,
    preselfpay_fen    bigint NOT NULL,
    inscp_scp_fen     bigint NOT NULL,
    presettle         jsonb NOT NULL,         -- the pre-settlement's setlinfo (what the page shows)
    state             text NOT NULL DEFAULT 'payable' CHECK (state IN (
                          'payable', 'paying', 'pay_pending', 'charged', 'paid', 'failed', 'refunding',
                          'refunded', 'cancelled')),
    attempt           integer NOT NULL DEFAULT 0,  -- pay attempts so far: the provider's key is <payOrdId>.<attempt>
    message           text NOT NULL DEFAULT '',   -- why it failed / what is pending, for the page and 6301
    setl_id           text,
    charge_ref        text,
    refund_setl_id    text,
    refund_ref        text,
    app_refd_sn       text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    paid_at           timestamptz,
    refunded_at       timestamptz,
    CONSTRAINT pay_orders_msgid UNIQUE (fixmedins_code, msgid),
    CONSTRAINT pay_orders_split CHECK (medfee_fen = fund_fen + acct_fen + cash_fen + hosp_part_fen),
    CONSTRAINT pay_orders_paid_has_setl CHECK (state NOT IN ('paid', 'refunding', 'refunded') OR setl_id IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS pay_orders_psn ON portal.pay_orders (psn_no, created_at DESC);

-- The built-in simulated payment provider's own book (PAYMENT_PROVIDER=simulated): one charge per
-- idempotency key, as a real provider would keep it on its side.
CREATE TABLE IF NOT EXISTS portal.sim_charges (
    idem_key      text PRIMARY KEY,
    amount_fen    bigint NOT NULL CHECK (amount_fen >= 0),
    outcome       text NOT NULL CHECK (outcome IN ('succeeded', 'declined')),
    reference     text NOT NULL,
    refunded_fen  bigint NOT NULL DEFAULT 0 CHECK (refunded_fen >= 0 AND refunded_fen <= amount_fen),
    refund_ref    text,
    created_at    timestamptz NOT NULL
);
