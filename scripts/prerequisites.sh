#!/usr/bin/env bash
# What the test suite needs beyond npm packages, installed or started when missing (this machine kind is Debian,
# run as root): MariaDB answering on 127.0.0.1:3306, openssl (test certificates), Debian's chromium (page test).
set -u
if ! mysqladmin --protocol=tcp -h"${TEST_DB_HOST:-127.0.0.1}" -P"${TEST_DB_PORT:-3306}" -u"${TEST_DB_USER:-root}" ping >/dev/null 2>&1; then
  if [ -x /usr/sbin/mariadbd ]; then
    echo "prerequisites: starting MariaDB" >&2
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 1 60); do
      mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping >/dev/null 2>&1 && break
      sleep 1
    done
  else
    echo "prerequisites: no MariaDB/MySQL answers at ${TEST_DB_HOST:-127.0.0.1}:${TEST_DB_PORT:-3306} (set TEST_DB_*)" >&2
  fi
fi
missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "prerequisites: installing ${missing[*]}" >&2
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "prerequisites: please install ${missing[*]} (Debian packages)" >&2
  fi
fi
exit 0
