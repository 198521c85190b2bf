# Local sandbox: bubblewrap from the distribution. Exports
# SKYNET_TEST_BWRAP=1 when a real sandbox (a user namespace without
# capabilities, read-only binds, private PID and network namespaces) can be
# created on this machine; otherwise the sandbox tests skip and say why.
# The escape tests also use git, ps (procps), ionice/renice (util-linux),
# bash and the system's python3 (a unix-socket client, raw system calls).
if ! command -v bwrap >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; } \
        || echo "50-sandbox.sh: installing bubblewrap failed" >&2
fi
for tool in git:git ps:procps ionice:util-linux renice:bsdutils bash:bash /usr/bin/python3:python3-minimal; do
    if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}" >/dev/null; } \
            || echo "50-sandbox.sh: installing ${tool#*:} failed" >&2
    fi
done
# The options the provider uses (its seccomp filter is probed by the
# provider itself, once per process).
if bwrap --unshare-user --cap-drop ALL --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp \
        --unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try --unshare-net \
        --die-with-parent --new-session -- sh -c 'grep -q "^CapEff:[[:space:]]*0*$" /proc/self/status' 2>/dev/null; then
    export SKYNET_TEST_BWRAP=1
else
    echo "50-sandbox.sh: bubblewrap cannot create a sandbox here; sandbox tests will skip" >&2
fi
# Landlock (the fallback when namespaces are forbidden): usable when the
# kernel answers landlock_create_ruleset's version query (syscall 444).
if python3 -c 'import ctypes,sys; sys.exit(0 if ctypes.CDLL(None).syscall(444, None, 0, 1) >= 1 else 1)' 2>/dev/null; then
    export SKYNET_TEST_LANDLOCK=1
else
    echo "50-sandbox.sh: this kernel does not offer Landlock; Landlock tests will skip" >&2
fi
