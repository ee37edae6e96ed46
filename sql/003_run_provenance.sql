-- What a run read, so a retry can read the same: the "now" its relative
-- date filters used (--as-of), the resolved config (passwords masked) and
-- how long each stage took.
ALTER TABLE pairpick_runs ADD COLUMN IF NOT EXISTS as_of timestamptz;
ALTER TABLE pairpick_runs ADD COLUMN IF NOT EXISTS config jsonb;
ALTER TABLE pairpick_runs ADD COLUMN IF NOT EXISTS stage_seconds jsonb;
