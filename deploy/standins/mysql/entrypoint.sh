#!/bin/bash
# First start (empty data directory): create the system tables, then, on a
# temporary server that listens on the socket only, set the root password and
# create MYSQL_DATABASE and MYSQL_USER/MYSQL_PASSWORD, as the official image does.
set -euo pipefail
if [ "${1:0:1}" = "-" ]; then set -- mariadbd "$@"; fi
if [ "$1" = mariadbd ] || [ "$1" = mysqld ]; then
  shift
  chown -R mysql:mysql /var/lib/mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    : "${MYSQL_ROOT_PASSWORD:?MYSQL_ROOT_PASSWORD is required on first start}"
    echo "entrypoint: initialising the data directory"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=normal \
      --skip-test-db >/dev/null
    mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    for _ in $(seq 60); do
      mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1 && break
      sleep 1
    done
    esc() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }
    {
      echo "DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host NOT IN ('localhost'));"
      echo "CREATE USER 'root'@'%' IDENTIFIED BY '$(esc "$MYSQL_ROOT_PASSWORD")';"
      echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
      echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(esc "$MYSQL_ROOT_PASSWORD")';"
      if [ -n "${MYSQL_DATABASE:-}" ]; then
        echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\`;"
      fi
      if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
        echo "CREATE USER '${MYSQL_USER}'@'%' IDENTIFIED BY '$(esc "$MYSQL_PASSWORD")';"
        if [ -n "${MYSQL_DATABASE:-}" ]; then
          echo "GRANT ALL ON \`${MYSQL_DATABASE}\`.* TO '${MYSQL_USER}'@'%';"
        fi
      fi
      echo "FLUSH PRIVILEGES;"
    } | mariadb --socket=/run/mysqld/init.sock -uroot
    kill "$pid"
    wait "$pid" || true
    echo "entrypoint: initialised"
  fi
  exec mariadbd --user=mysql --bind-address=0.0.0.0 --port=3306 "$@"
fi
exec "$@"
