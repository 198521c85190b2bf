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
