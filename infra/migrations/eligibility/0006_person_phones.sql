-- The phone on file for real-name verification (实名认证): the patient pages (gateway /m/) send
-- a one-time sign-up code to it. Kept apart from eligibility.persons: it is not part of a
-- person's insured status (no cache entry, no snapshot), only the real-name check reads it
-- (EligibilityService.VerifyRealName). Written by the reference loader (a person's `phone`).
CREATE TABLE eligibility.person_phones (
    psn_no      text PRIMARY KEY REFERENCES eligibility.persons (psn_no) ON DELETE CASCADE,
    phone       text NOT NULL CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
