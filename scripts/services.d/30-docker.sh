# Docker: a real dockerd (installed from the distribution if missing,
# started in the background if not running) and a tiny test image built
# with `docker import` from a busybox-static root filesystem, because no
# image registry is reachable. Exports SKYNET_TEST_DOCKER_IMAGE.
skynet_docker_image=skynet-test-busybox:1

skynet_docker_up() {
    docker info >/dev/null 2>&1
}

if ! command -v dockerd >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
if ! command -v busybox >/dev/null 2>&1 || ! busybox --list >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi

if ! skynet_docker_up; then
    mkdir -p /tmp/skynet-services
    setsid dockerd >/tmp/skynet-services/dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 1 60); do
        skynet_docker_up && break
        sleep 0.5
    done
fi

if skynet_docker_up; then
    if ! docker image inspect "$skynet_docker_image" >/dev/null 2>&1; then
        skynet_rootfs=$(mktemp -d)
        mkdir -p "$skynet_rootfs/bin" "$skynet_rootfs/tmp" "$skynet_rootfs/work"
        cp "$(command -v busybox)" "$skynet_rootfs/bin/busybox"
        for applet in $(busybox --list); do
            [ "$applet" = busybox ] || ln -sf busybox "$skynet_rootfs/bin/$applet"
        done
        tar -C "$skynet_rootfs" -c . | docker import -c 'ENV PATH=/bin' - "$skynet_docker_image" >/dev/null
        rm -rf "$skynet_rootfs"
    fi
    export SKYNET_TEST_DOCKER_IMAGE="$skynet_docker_image"
else
    echo "30-docker.sh: dockerd did not come up (see /tmp/skynet-services/dockerd.log); Docker tests will skip" >&2
fi
unset -f skynet_docker_up
