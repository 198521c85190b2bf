# Docker: a real dockerd (installed from the distribution if missing,
# started in the background if not running) and a tiny test image built
# with `docker import` from a busybox-static root filesystem, because no
# image registry is reachable. Exports SKYNET_TEST_DOCKER_IMAGE. Nothing
# here is fatal: without Docker the Docker tests skip and say so.
skynet_docker_image=skynet-test-busybox:1

skynet_docker_up() {
    docker info >/dev/null 2>&1
}

skynet_docker_image_build() {
    local rootfs applet
    rootfs=$(mktemp -d) || return 1
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/work" \
        && cp "$(command -v busybox)" "$rootfs/bin/busybox" || { rm -rf "$rootfs"; return 1; }
    for applet in $(busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
    tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' - "$skynet_docker_image" >/dev/null
    local status=$?
    rm -rf "$rootfs"
    return $status
}

if ! command -v dockerd >/dev/null 2>&1 || ! command -v busybox >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io busybox-static >/dev/null; } \
        || echo "30-docker.sh: installing docker.io/busybox-static failed" >&2
fi

if command -v dockerd >/dev/null 2>&1 && ! skynet_docker_up; then
    mkdir -p /tmp/skynet-services
    setsid dockerd >/tmp/skynet-services/dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 1 60); do
        skynet_docker_up && break
        sleep 0.5
    done
fi

if skynet_docker_up && { docker image inspect "$skynet_docker_image" >/dev/null 2>&1 || skynet_docker_image_build; }; then
    export SKYNET_TEST_DOCKER_IMAGE="$skynet_docker_image"
else
    echo "30-docker.sh: no dockerd or no test image (see /tmp/skynet-services/dockerd.log); Docker tests will skip" >&2
fi
unset -f skynet_docker_up skynet_docker_image_build
