# A second, private PostgreSQL cluster on 127.0.0.1:5433 for the fault test
# that restarts the server in immediate mode: restarting the machine's main
# cluster would cut off everything else using it, and its crash recovery
# fsyncs every database on it. Created once (trust auth on loopback),
# started if it is down.
faults_port=5433
faults_version="$(ls /etc/postgresql | sort -V | tail -n1)"
if [ -n "$faults_version" ] && command -v pg_createcluster >/dev/null; then
    if [ ! -d "/etc/postgresql/$faults_version/skynet_faults" ]; then
        pg_createcluster "$faults_version" skynet_faults -p "$faults_port" \
            -- --auth-local=trust --auth-host=trust >/dev/null
    fi
    if ! pg_isready -h 127.0.0.1 -p "$faults_port" -q 2>/dev/null; then
        pg_ctlcluster --skip-systemctl-redirect "$faults_version" skynet_faults start || true
        for _ in $(seq 1 30); do
            pg_isready -h 127.0.0.1 -p "$faults_port" -q && break
            sleep 1
        done
    fi
    if pg_isready -h 127.0.0.1 -p "$faults_port" -q 2>/dev/null; then
        export SKYNET_TEST_PG_CLUSTER="$faults_version skynet_faults"
        export SKYNET_TEST_PG_RESTART_URL="postgres://postgres@127.0.0.1:$faults_port/postgres"
    fi
fi
