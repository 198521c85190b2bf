# Network namespaces for the gateway tests (an agent across a veth pair):
# iproute2 from the distribution. Exports SKYNET_TEST_NETNS=1 when this
# machine lets us create a namespace and a veth pair (root, CAP_NET_ADMIN);
# otherwise the tests skip and say why.
if ! command -v ip >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; } \
        || echo "70-netns.sh: installing iproute2 failed" >&2
fi
probe="skp$$"
if ip netns add "$probe" 2>/dev/null \
        && ip link add "${probe}a" type veth peer name "${probe}b" netns "$probe" 2>/dev/null; then
    export SKYNET_TEST_NETNS=1
else
    echo "70-netns.sh: cannot create a network namespace and a veth pair here; netns tests will skip" >&2
fi
ip link del "${probe}a" 2>/dev/null || true
ip netns del "$probe" 2>/dev/null || true
