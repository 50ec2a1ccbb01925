-- One round trip per settlement: the optimistic booking of a computed settlement as ONE function
-- call, run by the service in autocommit (the call is its own implicit transaction, so an error
-- anywhere rolls back everything it did). Before this, BEGIN, claim, accumulators, visit,
-- settlement, fund lines, ledger, fees and COMMIT were nine round trips on a held connection.
--
-- Guarantees, the same as the statement-by-statement path in services/settlement/service.py:
-- * Exactly once per (fixmedins_code, msgid): the claim is the first statement. A concurrent
--   claim of the same msgid waits on the primary key; if that transaction commits, ours inserts
--   nothing and the function returns the stored journal row (r_booked = false) for the service to
--   replay it (same digest) or refuse it (MSGID_CONFLICT).
-- * No cap exceeded: the accumulator row is written only if its version is still the one the
--   engine computed on (else SQLSTATE MS001, the service re-reads and recomputes), and the
--   accumulators_within_caps CHECK still holds on the written row.
-- * The visit must still be open/discharged with the fee list the engine saw, and every fee taken
--   must still be unsettled (else SQLSTATE MS002, the service re-reads and recomputes).
-- * The settlement row, its fund lines and balanced ledger entries are inserted as given; the
--   settlement table's CHECKs (three identities) hold as before. Nothing is deleted.
--
-- p_settlement: one object with the settlement columns (as jsonb_populate_record reads them);
-- p_funds / p_ledger: arrays of objects with the settlement_funds / ledger_entries columns
-- except the ones taken from the settlement (setl_id, insured_pool, treatment_pool, setlym).
CREATE FUNCTION settlement.book_settlement(
    p_code text, p_msgid text, p_infno text, p_digest bytea, p_reply bytea,
    p_psn_no text, p_mdtrt_id text, p_setl_id text,
    p_insutype text, p_year integer, p_acc_data jsonb, p_acc_caps jsonb, p_acc_version bigint,
    p_visit_status text, p_fees_version integer, p_fee_sns text[],
    p_settlement jsonb, p_funds jsonb, p_ledger jsonb)
-- Output names carry an r_ prefix: plain names would clash with the columns of the same name.
RETURNS TABLE (r_booked boolean, r_msgid text, r_infno text, r_digest bytea, r_reply bytea)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO settlement.transactions AS t
        (fixmedins_code, msgid, infno, digest, reply, psn_no, mdtrt_id, setl_id, effect)
    VALUES (p_code, p_msgid, p_infno, p_digest, p_reply, p_psn_no, p_mdtrt_id, p_setl_id, 'settle')
    ON CONFLICT (fixmedins_code, msgid) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        -- A new statement, a new snapshot: the row that beat us is committed and visible.
        RETURN QUERY SELECT false, t.msgid, t.infno, t.digest, t.reply
                     FROM settlement.transactions t WHERE t.fixmedins_code = p_code AND t.msgid = p_msgid;
        RETURN;
    END IF;

    -- Version 0 means "no row when read": insert it as version 1 (a concurrent insert makes the
    -- conflict branch compare 0 with 1 and fail, as it must).
    INSERT INTO settlement.accumulators AS a (psn_no, insutype, year, data, caps, version)
    VALUES (p_psn_no, p_insutype, p_year, p_acc_data, p_acc_caps, 1)
    ON CONFLICT (psn_no, insutype, year) DO UPDATE
       SET data = EXCLUDED.data, caps = EXCLUDED.caps, version = a.version + 1, updated_at = now()
       WHERE a.version = p_acc_version;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'accumulators of % changed since they were read', p_psn_no USING ERRCODE = 'MS001';
    END IF;

    UPDATE settlement.visits SET status = p_visit_status, updated_at = now()
    WHERE mdtrt_id = p_mdtrt_id AND status IN ('open', 'discharged') AND fees_version = p_fees_version;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 1 THEN
        RAISE EXCEPTION 'visit % changed since it was read', p_mdtrt_id USING ERRCODE = 'MS002';
    END IF;

    INSERT INTO settlement.settlements (
        setl_id, mdtrt_id, psn_no, psn_name, psn_type, insutype, year, fixmedins_code,
        insured_pool, treatment_pool, med_type, line, region_class, filing_group, ratio,
        clr_type, clr_way, medfee_sumamt, fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt,
        inscp_scp_amt, act_pay_dedc, hifp_pay, cvlserv_pay, hifes_pay, hifmi_pay, hifob_pay,
        maf_pay, oth_pay, fund_pay_sumamt, psn_part_amt, acct_pay, psn_cash_pay,
        hosp_part_amt, balc_fen, status, reverses_setl_id, setl_time, setlym, setl_date,
        deltas, caps, result, msgid)
    SELECT s.setl_id, s.mdtrt_id, s.psn_no, s.psn_name, s.psn_type, s.insutype, s.year, s.fixmedins_code,
        s.insured_pool, s.treatment_pool, s.med_type, s.line, s.region_class, s.filing_group, s.ratio,
        s.clr_type, s.clr_way, s.medfee_sumamt, s.fulamt_ownpay_amt, s.overlmt_selfpay, s.preselfpay_amt,
        s.inscp_scp_amt, s.act_pay_dedc, s.hifp_pay, s.cvlserv_pay, s.hifes_pay, s.hifmi_pay, s.hifob_pay,
        s.maf_pay, s.oth_pay, s.fund_pay_sumamt, s.psn_part_amt, s.acct_pay, s.psn_cash_pay,
        s.hosp_part_amt, s.balc_fen, s.status, s.reverses_setl_id, s.setl_time, s.setlym, s.setl_date,
        s.deltas, s.caps, s.result, s.msgid
    FROM jsonb_populate_record(NULL::settlement.settlements, p_settlement) s;

    INSERT INTO settlement.settlement_funds
        (setl_id, line_no, fund_pay_type, fund_pay_type_name, inscp_scp_amt_fen, crt_payb_lmt_amt_fen,
         fund_payamt_fen, setl_proc_info)
    SELECT p_setl_id, f.line_no, f.fund_pay_type, f.fund_pay_type_name, f.inscp_scp_amt_fen,
           f.crt_payb_lmt_amt_fen, f.fund_payamt_fen, f.setl_proc_info
    FROM jsonb_populate_recordset(NULL::settlement.settlement_funds, p_funds) f;

    INSERT INTO settlement.ledger_entries
        (setl_id, insured_pool, treatment_pool, setlym, entry_no, transfer_no, leg, account, fund_pay_type,
         amount_fen)
    SELECT p_setl_id, p_settlement ->> 'insured_pool', p_settlement ->> 'treatment_pool', p_settlement ->> 'setlym',
           e.entry_no, e.transfer_no, e.leg, e.account, e.fund_pay_type, e.amount_fen
    FROM jsonb_populate_recordset(NULL::settlement.ledger_entries, p_ledger) e;

    UPDATE settlement.fee_details SET setl_id = p_setl_id
    WHERE mdtrt_id = p_mdtrt_id AND setl_id IS NULL AND feedetl_sn = any(p_fee_sns);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> cardinality(p_fee_sns) THEN
        RAISE EXCEPTION 'fees of visit % changed since they were read', p_mdtrt_id USING ERRCODE = 'MS002';
    END IF;

    RETURN QUERY SELECT true, p_msgid, p_infno, NULL::bytea, NULL::bytea;
END
$$;
