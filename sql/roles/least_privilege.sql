-- A least-privilege role for running pairpick jobs (not for migrations,
-- which the tables' owner runs). It can read the source table, read and
-- write run records, add pairs to the output table and use temporary tables;
-- it cannot drop, truncate or delete anything.
--
--   psql -v role=pairpick_job -v source=demo.images \
--        -v output=pending_annotation_pairs -f sql/roles/least_privilege.sql
--
-- Give it a password or a certificate separately (ALTER ROLE ... PASSWORD).
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec

SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), :'role') \gexec

-- Schemas of the tables it touches.
SELECT DISTINCT format('GRANT USAGE ON SCHEMA %I TO %I', n.nspname, :'role')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid IN (:'source'::regclass, :'output'::regclass, 'pairpick_runs'::regclass) \gexec

SELECT format('GRANT SELECT ON %s TO %I', :'source'::regclass, :'role') \gexec
SELECT format('GRANT SELECT, INSERT ON %s TO %I', :'output'::regclass, :'role') \gexec
SELECT format('GRANT SELECT, INSERT, UPDATE ON pairpick_runs TO %I', :'role') \gexec
SELECT format('GRANT SELECT ON pairpick_migrations TO %I', :'role') \gexec
-- Stored cluster models (migration 005): runs read them, and a run with
-- strategy.kmeans.refit_after stores a new version.
SELECT format('GRANT SELECT, INSERT ON %s TO %I', t, :'role')
  FROM unnest(ARRAY['pairpick_cluster_models', 'pairpick_cluster_model_clusters']) AS t
 WHERE to_regclass(t) IS NOT NULL \gexec
