-- Bulk import throughput (services/eligibility/bulk_import.py): per-row costs that bought nothing.
-- - enrollments.pool → reference.pools: the importer and the service validate the pool against
--   the reference data before writing, and reference pools are never deleted; the per-row FK
--   trigger was ~15% of an import batch.
-- - enrollments_pool_year: no query reads enrollments by pool; it only slowed every insert.
-- - persons.social_card: most persons have no card number; a partial unique index keeps the
--   rule (one person per card) without an index entry per NULL.
ALTER TABLE eligibility.enrollments DROP CONSTRAINT IF EXISTS enrollments_pool_fkey;
DROP INDEX IF EXISTS eligibility.enrollments_pool_year;
ALTER TABLE eligibility.persons DROP CONSTRAINT IF EXISTS persons_social_card_key;
CREATE UNIQUE INDEX persons_social_card ON eligibility.persons (social_card) WHERE social_card IS NOT NULL;
