#!/bin/sh
# Runs once, when the postgres container initialises an empty data
# directory: creates keyescrow's two roles and its database.  Passwords come
# from the compose secrets and travel to psql as variables on stdin.
set -eu
owner_pw=$(cat /run/secrets/db_owner_password)
app_pw=$(cat /run/secrets/db_password)
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v owner_pw="$owner_pw" -v app_pw="$app_pw" <<'SQL'
CREATE ROLE keyescrow_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE keyescrow_app LOGIN PASSWORD :'app_pw';
CREATE DATABASE keyescrow OWNER keyescrow_owner;
REVOKE ALL ON DATABASE keyescrow FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE keyescrow TO keyescrow_app;
SQL
