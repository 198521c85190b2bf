# PostgreSQL: the machine's cluster on 127.0.0.1:5432 (trust auth). Started
# if it is down; the tests create their own databases under this URL.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    for version in /etc/postgresql/*; do
        pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
    done
    for _ in $(seq 1 30); do
        pg_isready -h 127.0.0.1 -p 5432 -q && break
        sleep 1
    done
fi
export SKYNET_TEST_POSTGRES_URL="${SKYNET_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
# Databases earlier test runs created (each test makes its own, named
# skynet_t_*): drop them so they do not pile up.
psql -h 127.0.0.1 -U postgres -d postgres -Atqc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'skynet\_t\_%'" 2>/dev/null |
    while read -r db; do
        psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
