-- Two roles for Registry Janitor, so that the app cannot undo its own audit log.
--
--   owner  owns the schema and every table: it runs the migrations (a one-shot
--          `migrate` service), and only it (or a superuser) may alter a table, or drop
--          or disable the triggers that keep the deletion audit log append-only.
--   app    what the web, worker and beat processes connect as: it may read and write
--          rows (SELECT, INSERT, UPDATE, DELETE) and use sequences, nothing else. It
--          cannot create, alter, drop or truncate tables, nor touch triggers.
--
-- Run as a superuser with psql, once per database, e.g.
--   psql -v owner=janitor -v app=janitor_app -v owner_password=… -v app_password=… \
--        -d janitor -f roles.sql
-- docker-compose.yml runs it through deploy/postgres/10-janitor-roles.sh on first start.

\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L',
              :'owner', :'owner_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L',
              :'app', :'app_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec

-- The migrations' trigram index needs this extension; creating one takes a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

SELECT format('ALTER SCHEMA public OWNER TO %I', :'owner') \gexec
SELECT format('REVOKE CREATE ON SCHEMA public FROM PUBLIC') \gexec
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'app') \gexec

-- Tables and sequences the owner creates from now on (the migrations)...
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
              'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', :'owner', :'app') \gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
              'GRANT USAGE, SELECT ON SEQUENCES TO %I', :'owner', :'app') \gexec
-- ...and those that exist already.
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I',
              :'app') \gexec
SELECT format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', :'app') \gexec
