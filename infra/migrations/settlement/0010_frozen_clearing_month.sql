-- A clearing run freezes its month (DOMAIN.md §6): a settlement or reversal committed after the
-- run (clock skew, a late retry) belongs to the next open month, and that month's statement lists
-- it as carried over; a frozen statement never changes and the auditor still balances.
--
-- Applied where every booking passes, inside its own transaction, whatever function or statement
-- inserts the rows: BEFORE INSERT triggers on settlement.settlements and settlement.ledger_entries
-- (settlement.book_settlement, and the reversal's inserts) move a row's setlym to the first month
-- from it on that has no clearing run. Each month looked at is locked shared with the clearing
-- run's own advisory lock (services/settlement/repository.clearing_lock_key: 0x636C00000000 +
-- yyyyMM; the run takes it exclusive for its transaction): either the booking commits first and
-- the run includes it, or the run commits first and the booking sees it and moves on. The
-- ledger rows of a settlement come after its row in the same transaction, under the same locks,
-- so they get the same month. setl_time and setl_date stay what they were (3201/3202 reconcile
-- the hospital's days by setl_date); `carried_from` keeps the month the row was meant for.

CREATE FUNCTION settlement.open_clearing_month(p_setlym text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    m text := p_setlym;
BEGIN
    LOOP
        PERFORM pg_advisory_xact_lock_shared(109315507617792 + m::bigint);
        IF NOT EXISTS (SELECT 1 FROM settlement.clearing_runs r WHERE r.setlym = m) THEN
            RETURN m;
        END IF;
        m := to_char(to_date(m, 'YYYYMM') + interval '1 month', 'YYYYMM');
    END LOOP;
END
$$;

-- The month a settlement or reversal was meant for, when a run had frozen it (NULL otherwise):
-- its statement lists it as carried over.
ALTER TABLE settlement.settlements ADD COLUMN carried_from text;

CREATE FUNCTION settlement.settlement_into_open_month() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    m text := settlement.open_clearing_month(NEW.setlym);
BEGIN
    IF m <> NEW.setlym THEN
        NEW.carried_from := NEW.setlym;
        NEW.setlym := m;
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION settlement.ledger_entry_into_open_month() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.setlym := settlement.open_clearing_month(NEW.setlym);
    RETURN NEW;
END
$$;

CREATE TRIGGER settlements_into_open_month BEFORE INSERT ON settlement.settlements
    FOR EACH ROW EXECUTE FUNCTION settlement.settlement_into_open_month();
CREATE TRIGGER ledger_entries_into_open_month BEFORE INSERT ON settlement.ledger_entries
    FOR EACH ROW EXECUTE FUNCTION settlement.ledger_entry_into_open_month();

-- The statement's own lines: personal-account payments made outside the insured pool (advanced
-- by the treatment pool like fund payments since this migration), and what was carried over
-- into the month (rows committed after their own month's run; included in the totals too).
ALTER TABLE settlement.clearing_statements
    ADD COLUMN acct_fen bigint NOT NULL DEFAULT 0,
    ADD COLUMN carried_over_count bigint NOT NULL DEFAULT 0,
    ADD COLUMN carried_over_fen bigint NOT NULL DEFAULT 0;
