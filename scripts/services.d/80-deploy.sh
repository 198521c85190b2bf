# The deployment test's tools, from the distribution: debootstrap (the
# image base, since no registry is reachable), docker-compose (v1, the
# Debian package), systemd-analyze (unit checks), man (for the units'
# Documentation=man:), jq and curl. Registers scripts/deploy-test.sh; it
# skips and says why when a tool or dockerd is missing (fails under CI=true).
skynet_deploy_missing=()
for skynet_tool in debootstrap:debootstrap docker-compose:docker-compose systemd-analyze:systemd \
    man:man-db jq:jq curl:curl strip:binutils; do
    command -v "${skynet_tool%%:*}" >/dev/null 2>&1 || skynet_deploy_missing+=("${skynet_tool#*:}")
done
if [ ${#skynet_deploy_missing[@]} -gt 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${skynet_deploy_missing[@]}" >/dev/null; } \
        || echo "80-deploy.sh: installing ${skynet_deploy_missing[*]} failed" >&2
fi
unset skynet_deploy_missing skynet_tool
SKYNET_EXTRA_SUITES+=("scripts/deploy-test.sh")
