-- Provenance and display of every stored pair (applied once per output
-- table): the policy that chose it (job name and strategy, e.g.
-- "daily:score/uncertain"), whether it joins two neighbouring categories
-- (a bridge) or lies inside one, and which side the annotation app shows
-- first: a fair coin, so that screen position carries no bias. Rows from
-- before this migration keep policy and show_first NULL.
ALTER TABLE @OUTPUT_TABLE@ ADD COLUMN IF NOT EXISTS policy text;
ALTER TABLE @OUTPUT_TABLE@ ADD COLUMN IF NOT EXISTS cross_category boolean NOT NULL DEFAULT false;
ALTER TABLE @OUTPUT_TABLE@ ADD COLUMN IF NOT EXISTS show_first text
    CHECK (show_first IN ('a', 'b'));
