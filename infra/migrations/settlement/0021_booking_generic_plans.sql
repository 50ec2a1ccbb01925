-- The booking's PostgreSQL CPU (issue #18, lever 2; figures in docs/PERFORMANCE.md).
--
-- 1. Generic plans for every statement of the booking. plpgsql caches one plan per statement and
--    per session, but under the default plan_cache_mode (auto) a statement whose custom plans
--    look cheaper than the generic one is planned again at EVERY call (the fee update and the
--    accumulator upsert were, ~40-60 µs each). The booking's statements are all key look-ups
--    and inserts whose best plan does not depend on the values, so the generic plan is right for
--    them. Set on the wrapper that the service calls (migration 0020): a function's SET applies
--    for the whole call, the nested settlement.book_settlement included, whose body stays
--    untouched (other migrations may replace it).
ALTER FUNCTION settlement.book_settlement_checked(
    text, text, text, bytea, bytea, text, text, text, text, integer, jsonb, jsonb, bigint,
    text, integer, text[], jsonb, jsonb, jsonb, bigint)
    SET plan_cache_mode = force_generic_plan;

-- 2. The settlement row is ~2.5 kB with the engine result (jsonb, ~2.2 kB as text): past the
--    2 kB TOAST threshold, so every insert compressed the result with pglz (all rows were:
--    pg_column_compression). Rows up to 8 kB now stay inline and uncompressed: no compression
--    on the hot path, a little more WAL and heap per settlement.
ALTER TABLE settlement.settlements SET (toast_tuple_target = 8160);

-- 3. Fewer index entries per booking.
--    * fee_details_setl (setl_id WHERE NOT NULL) served only the release of a cancelled
--      settlement's fees, which now finds them by (mdtrt_id, setl_id) on the primary key
--      (repository.Q_FEES_RELEASE). Without it no index covers setl_id, so the booking's fee
--      update (setl_id set once per fee) can be a HOT update, no index insert at all, when the
--      page has room — hence a fillfactor leaving some on new pages.
DROP INDEX settlement.fee_details_setl;
ALTER TABLE settlement.fee_details SET (fillfactor = 85);
--    * reverses_setl_id UNIQUE indexed a NULL for every settlement; only reversals carry one. The
--      same guarantee (a settlement is reversed at most once) from a partial unique index.
ALTER TABLE settlement.settlements DROP CONSTRAINT settlements_reverses_setl_id_key;
CREATE UNIQUE INDEX settlements_reverses ON settlement.settlements (reverses_setl_id)
    WHERE reverses_setl_id IS NOT NULL;
