-- A hospital's `interface` block (docs/REFERENCE_DATA.md §4): how its HIS talks to the gateway.
-- Stored as columns, canonical (a document without the block stores the defaults, so loading it
-- again changes nothing). Hospitals loaded before this migration get the defaults too: TIF only
-- (the authentication they had), a lenient msgid and optional sign-in (services/refdata/records.py
-- HospitalInterface says why).
ALTER TABLE reference.hospitals
    ADD COLUMN auth text[] NOT NULL DEFAULT '{tif}'
        CHECK (cardinality(auth) >= 1 AND auth <@ '{tif,api_hmac_sha1}'::text[]),
    ADD COLUMN msgid_rule text NOT NULL DEFAULT 'lenient' CHECK (msgid_rule IN ('lenient', 'strict')),
    ADD COLUMN sign_in text NOT NULL DEFAULT 'optional' CHECK (sign_in IN ('optional', 'required')),
    -- ± seconds of timestamp skew accepted per profile; NULL: the gateway's default for that profile
    ADD COLUMN tif_window_s integer CHECK (tif_window_s BETWEEN 1 AND 3600),
    ADD COLUMN api_window_s integer CHECK (api_window_s BETWEEN 1 AND 3600);
