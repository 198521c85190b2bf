# SSH: a real OpenSSH sshd on a loopback port with its own config, host
# key and one client key, all generated under /tmp/skynet-sshd (the
# machine's own sshd and ~/.ssh are not touched). Exports
# SKYNET_TEST_SSH_HOST, _PORT, _USER, _KEY (client private key) and
# _KNOWN_HOSTS (a known_hosts file naming the host key). When run as root
# it also creates an unprivileged account `skynet-ssh` (login shell
# /bin/sh, no rc files, the same client key) and exports
# SKYNET_BENCH_SSH_USER: benches log in there so a session costs what SSH
# costs, not what the invoking user's shell start-up costs. The `sftp`
# subsystem is on: the SSH provider fetches a step's outputs over SFTP.
skynet_ssh_dir=/tmp/skynet-sshd
skynet_ssh_port=22022
skynet_ssh_bench_user=skynet-ssh

if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null; } \
        || echo "40-sshd.sh: installing openssh-server failed" >&2
fi

skynet_sshd_prepare() {
    mkdir -p "$skynet_ssh_dir" /run/sshd && chmod 700 "$skynet_ssh_dir" || return 1
    [ -f "$skynet_ssh_dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C skynet-test-host -f "$skynet_ssh_dir/host_ed25519" || return 1
    [ -f "$skynet_ssh_dir/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C skynet-test-client -f "$skynet_ssh_dir/client_ed25519" || return 1
    cp "$skynet_ssh_dir/client_ed25519.pub" "$skynet_ssh_dir/authorized_keys" || return 1
    cat > "$skynet_ssh_dir/sshd_config.new" <<CONFIG
Port $skynet_ssh_port
ListenAddress 127.0.0.1
HostKey $skynet_ssh_dir/host_ed25519
PidFile $skynet_ssh_dir/sshd.pid
AuthorizedKeysFile $skynet_ssh_dir/authorized_keys .ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
MaxSessions 100
MaxStartups 100:30:200
Subsystem sftp internal-sftp
CONFIG
    # A running sshd from an older version of this script keeps its old
    # config until told: reload it (SIGHUP) when the config changed.
    if ! cmp -s "$skynet_ssh_dir/sshd_config.new" "$skynet_ssh_dir/sshd_config"; then
        mv "$skynet_ssh_dir/sshd_config.new" "$skynet_ssh_dir/sshd_config" || return 1
        [ -f "$skynet_ssh_dir/sshd.pid" ] && kill -HUP "$(cat "$skynet_ssh_dir/sshd.pid")" 2>/dev/null && sleep 0.5
    else
        rm -f "$skynet_ssh_dir/sshd_config.new"
    fi
    echo "[127.0.0.1]:$skynet_ssh_port $(cut -d' ' -f1,2 "$skynet_ssh_dir/host_ed25519.pub")" > "$skynet_ssh_dir/known_hosts"
}

# The bench account: '*' (not '!') as password so sshd without PAM does not
# treat it as locked; its key lives in its own home because sshd reads
# authorized keys as the target user, who cannot enter $skynet_ssh_dir.
skynet_ssh_bench_account() {
    [ "$(id -u)" = 0 ] || return 1
    id "$skynet_ssh_bench_user" >/dev/null 2>&1 \
        || useradd --create-home --shell /bin/sh --password '*' "$skynet_ssh_bench_user" || return 1
    local home
    home="$(getent passwd "$skynet_ssh_bench_user" | cut -d: -f6)"
    [ -n "$home" ] || return 1
    install -d -m 700 -o "$skynet_ssh_bench_user" -g "$skynet_ssh_bench_user" "$home/.ssh" || return 1
    install -m 600 -o "$skynet_ssh_bench_user" -g "$skynet_ssh_bench_user" \
        "$skynet_ssh_dir/client_ed25519.pub" "$home/.ssh/authorized_keys"
}

skynet_sshd_up() {
    [ -f "$skynet_ssh_dir/sshd.pid" ] && kill -0 "$(cat "$skynet_ssh_dir/sshd.pid")" 2>/dev/null \
        && (exec 3<>"/dev/tcp/127.0.0.1/$skynet_ssh_port") 2>/dev/null
}
if skynet_sshd_prepare && ! skynet_sshd_up \
    && "$(command -v sshd || echo /usr/sbin/sshd)" -f "$skynet_ssh_dir/sshd_config" -E "$skynet_ssh_dir/sshd.log"; then
    for _ in $(seq 1 50); do
        skynet_sshd_up && break
        sleep 0.1
    done
fi
if skynet_sshd_up; then
    export SKYNET_TEST_SSH_HOST=127.0.0.1
    export SKYNET_TEST_SSH_PORT=$skynet_ssh_port
    export SKYNET_TEST_SSH_USER="$(id -un)"
    export SKYNET_TEST_SSH_KEY="$skynet_ssh_dir/client_ed25519"
    export SKYNET_TEST_SSH_KNOWN_HOSTS="$skynet_ssh_dir/known_hosts"
    if skynet_ssh_bench_account; then
        export SKYNET_BENCH_SSH_USER="$skynet_ssh_bench_user"
    else
        echo "40-sshd.sh: no $skynet_ssh_bench_user account (needs root); SSH benches use $(id -un)" >&2
    fi
else
    echo "40-sshd.sh: sshd did not come up (see $skynet_ssh_dir/sshd.log); SSH tests will skip" >&2
fi
unset -f skynet_sshd_up skynet_sshd_prepare skynet_ssh_bench_account
