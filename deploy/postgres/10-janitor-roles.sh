#!/bin/sh
# Run by the postgres image on a fresh data directory (/docker-entrypoint-initdb.d):
# creates the owner and app roles of roles.sql in the janitor database.
set -eu
psql --username "$POSTGRES_USER" --dbname janitor \
    -v owner=janitor -v owner_password="$JANITOR_DB_OWNER_PASSWORD" \
    -v app=janitor_app -v app_password="$JANITOR_DB_APP_PASSWORD" \
    -f /docker-entrypoint-initdb.d/roles.sql.in
