//! A root step tries to leave its sandbox, under real bubblewrap
//! (`SKYNET_TEST_BWRAP=1`) and under the Landlock fallback
//! (`SKYNET_TEST_LANDLOCK=1`); `scripts/services.d/50-sandbox.sh` sets them
//! when the machine can. Each attempt is judged by its effect on the host
//! (the file is absent, the process alive, nothing was received), not only
//! by the step's own report.

mod provider_support;

use provider_support::{HostProcess, Run, Step, command, sandboxes};
use skynet_core::RiskLevel;
use skynet_core::provider::LocalProvider;
use std::path::Path;
use std::time::Duration;

async fn sh(local: &LocalProvider, root: &Path, risk: RiskLevel, script: &str) -> Run {
    let mut step = Step::new(root);
    step.risk = risk;
    step.run_on(local, &command(&["bash", "-c", script], root), None)
        .await
        .expect("the step runs")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7())
}

#[tokio::test]
async fn a_root_step_has_no_capabilities() {
    for (name, local) in sandboxes("a_root_step_has_no_capabilities") {
        let root = tempfile::tempdir().expect("root");
        let r = sh(
            &local,
            root.path(),
            RiskLevel::Admin,
            "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status; grep NoNewPrivs /proc/self/status",
        )
        .await;
        let out = r.texts(skynet_core::provider::Stream::Stdout).join("\n");
        for set in ["CapEff", "CapPrm", "CapBnd"] {
            assert!(
                out.lines()
                    .any(|l| l.starts_with(set) && l.ends_with("0000000000000000")),
                "{name}: {set} is not empty:\n{out}"
            );
        }
        assert!(out.contains("NoNewPrivs:\t1"), "{name}: {out}");
    }
}

#[tokio::test]
async fn remounting_the_system_writable_fails() {
    for (name, local) in sandboxes("remounting_the_system_writable_fails") {
        let root = tempfile::tempdir().expect("root");
        let host = format!("/{}", unique("skynet-escape"));
        let script = format!(
            "mount -o remount,rw / 2>/dev/null; mount --bind / /mnt 2>/dev/null; \
             unshare -Urm sh -c 'mount -o remount,rw / && touch {host}' 2>/dev/null; \
             touch {host} 2>/dev/null; touch /mnt{host} 2>/dev/null; \
             unshare -Ur true 2>/dev/null && echo unshared; echo done"
        );
        // ADMIN: the widest a step can be approved.
        let r = sh(&local, root.path(), RiskLevel::Admin, &script).await;
        assert!(r.all().contains("done"), "{name}: {}", r.all());
        assert!(!r.all().contains("unshared"), "{name}: {}", r.all());
        assert!(!Path::new(&host).exists(), "{name}: {host} was created");
    }
}

#[tokio::test]
async fn nothing_outside_the_root_is_written_even_when_approved_as_write() {
    for (name, local) in sandboxes("nothing_outside_the_root_is_written") {
        for risk in [RiskLevel::ReadOnly, RiskLevel::Write, RiskLevel::Admin] {
            let root = tempfile::tempdir().expect("root");
            let outside = tempfile::tempdir_in("/var/tmp").expect("outside");
            let etc = format!("/etc/{}", unique("skynet-escape"));
            let script = format!(
                "echo x > {out}/escaped; echo x > {etc}; echo x > /root/{file}; ln -s {out}/l in-link; \
                 echo x > in-link/escaped-by-link; echo done",
                out = outside.path().display(),
                file = unique("skynet-escape"),
            );
            let r = sh(&local, root.path(), risk, &script).await;
            assert!(r.all().contains("done"), "{name}: {}", r.all());
            assert_eq!(
                std::fs::read_dir(outside.path()).expect("outside").count(),
                0,
                "{name} {risk:?}: wrote outside its root"
            );
            assert!(!Path::new(&etc).exists(), "{name} {risk:?}: wrote {etc}");
        }
    }
}

#[tokio::test]
async fn a_read_only_step_cannot_write_its_root() {
    for (name, local) in sandboxes("a_read_only_step_cannot_write_its_root") {
        let root = tempfile::tempdir().expect("root");
        std::fs::write(root.path().join("kept.txt"), "kept").expect("seed");
        let script = "echo x > new.txt; echo y > kept.txt; rm -f kept.txt; mkdir d; echo done";
        let r = sh(&local, root.path(), RiskLevel::ReadOnly, script).await;
        assert!(r.all().contains("done"), "{name}: {}", r.all());
        assert!(
            !root.path().join("new.txt").exists(),
            "{name}: created a file"
        );
        assert!(
            !root.path().join("d").exists(),
            "{name}: created a directory"
        );
        assert_eq!(
            std::fs::read_to_string(root.path().join("kept.txt")).expect("kept"),
            "kept",
            "{name}: changed a file"
        );
        // The same step approved as WRITE may.
        let r = sh(&local, root.path(), RiskLevel::Write, script).await;
        assert!(root.path().join("new.txt").exists(), "{name}: {}", r.all());
    }
}

#[tokio::test]
async fn host_unix_sockets_are_out_of_reach_of_read_only_steps() {
    for (name, local) in sandboxes("host_unix_sockets_are_out_of_reach") {
        // Inside the root, where the step can see the socket file.
        let root = tempfile::tempdir().expect("root");
        let path = root.path().join("host.sock");
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let script = format!(
            "/usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); \
             s.connect(\"{}\"); s.sendall(b\"hello\"); print(\"connected\")' 2>/dev/null || echo refused",
            path.display()
        );
        let r = sh(&local, root.path(), RiskLevel::ReadOnly, &script).await;
        let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        assert!(
            accepted.is_err(),
            "{name}: the host socket accepted a connection"
        );
        assert_eq!(
            r.texts(skynet_core::provider::Stream::Stdout),
            ["refused"],
            "{name}: {}",
            r.all()
        );
    }
}

#[tokio::test]
async fn read_only_steps_send_no_udp_and_open_no_tcp() {
    for (name, local) in sandboxes("read_only_steps_send_no_udp_and_open_no_tcp") {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("udp");
        let udp_port = udp.local_addr().expect("addr").port();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("tcp");
        let tcp_port = tcp.local_addr().expect("addr").port();
        let root = tempfile::tempdir().expect("root");
        let script = format!(
            "echo leak > /dev/udp/127.0.0.1/{udp_port} 2>/dev/null && echo udp-sent || echo udp-refused; \
             (exec 3<>/dev/tcp/127.0.0.1/{tcp_port}) 2>/dev/null && echo tcp-open || echo tcp-refused"
        );
        let r = sh(&local, root.path(), RiskLevel::ReadOnly, &script).await;
        let mut buf = [0u8; 64];
        let got = tokio::time::timeout(Duration::from_millis(300), udp.recv(&mut buf)).await;
        assert!(got.is_err(), "{name}: a UDP datagram left the step");
        let accepted = tokio::time::timeout(Duration::from_millis(100), tcp.accept()).await;
        assert!(accepted.is_err(), "{name}: a TCP connection left the step");
        assert_eq!(
            r.texts(skynet_core::provider::Stream::Stdout),
            ["udp-refused", "tcp-refused"],
            "{name}: {}",
            r.all()
        );
    }
}

#[tokio::test]
async fn another_process_environment_is_unreadable() {
    for (name, local) in sandboxes("another_process_environment_is_unreadable") {
        let host = HostProcess::start();
        let root = tempfile::tempdir().expect("root");
        let script = format!(
            "ps eww -A 2>&1; cat /proc/{pid}/environ 2>&1; tr '\\0' '\\n' < /proc/{pid}/environ 2>&1; \
             grep -a -r SKYNET_ESCAPE_SECRET /proc/[0-9]*/environ 2>/dev/null; echo done",
            pid = host.pid()
        );
        for risk in [RiskLevel::ReadOnly, RiskLevel::Admin] {
            let r = sh(&local, root.path(), risk, &script).await;
            assert!(r.all().contains("done"), "{name}: {}", r.all());
            assert!(
                !r.all().contains(&host.secret),
                "{name} {risk:?}: read the host process's environment:\n{}",
                r.all()
            );
        }
    }
}

#[tokio::test]
async fn host_processes_cannot_be_reprioritised_or_killed() {
    for (name, local) in sandboxes("host_processes_cannot_be_reprioritised_or_killed") {
        let mut host = HostProcess::start();
        let (nice, io) = (host.nice(), host.io_priority());
        let root = tempfile::tempdir().expect("root");
        let script = format!(
            // Only ever the test's own `sleep`: should the sandbox break,
            // nothing else on the machine is hit (no `kill -1`, no `-u`).
            "renice -n 19 -p {pid} >/dev/null 2>&1; ionice -c 3 -p {pid} 2>/dev/null; \
             kill -STOP {pid} 2>/dev/null; kill -9 {pid} 2>/dev/null; echo done",
            pid = host.pid()
        );
        let r = sh(&local, root.path(), RiskLevel::Admin, &script).await;
        assert!(r.all().contains("done"), "{name}: {}", r.all());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(host.alive(), "{name}: the host process was killed");
        assert_eq!(host.nice(), nice, "{name}: renice changed a host process");
        assert_eq!(
            host.io_priority(),
            io,
            "{name}: ionice changed a host process"
        );
        let state = std::fs::read_to_string(format!("/proc/{}/stat", host.pid())).expect("stat");
        assert!(
            !state.rsplit_once(") ").expect("stat").1.starts_with('T'),
            "{name}: the host process was stopped"
        );
        // Within the step, signals and priorities still work.
        let own =
            "sleep 30 & kill $! && wait $!; echo killed-own=$?; nice -n 5 true && echo nice-ok";
        let r = sh(&local, root.path(), RiskLevel::ReadOnly, own).await;
        assert_eq!(
            r.texts(skynet_core::provider::Stream::Stdout),
            ["killed-own=143", "nice-ok"],
            "{name}: {}",
            r.all()
        );
    }
}

#[tokio::test]
async fn secrets_in_readable_directories_are_hidden() {
    for (name, local) in sandboxes("secrets_in_readable_directories_are_hidden") {
        let root = tempfile::tempdir().expect("root");
        let shadow = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
        let script = "cat /etc/shadow 2>/dev/null; grep -r root /etc 2>/dev/null; \
                      ls -A /root/.ssh 2>/dev/null; echo done";
        let r = sh(&local, root.path(), RiskLevel::Admin, script).await;
        let out = r.all();
        assert!(out.contains("done"), "{name}: {out}");
        // Something of /etc was read, just not the shadow file.
        assert!(out.contains("/etc/passwd:root"), "{name}: {out}");
        assert!(!out.contains("/etc/shadow"), "{name}: {out}");
        for line in shadow.lines().filter(|l| l.starts_with("root:")) {
            assert!(!out.contains(line), "{name}: /etc/shadow leaked");
        }
        if let Ok(keys) = std::fs::read_dir("/root/.ssh") {
            for key in keys.flatten() {
                let file = key.file_name().to_string_lossy().to_string();
                assert!(
                    !r.texts(skynet_core::provider::Stream::Stdout)
                        .contains(&file.as_str())
                );
            }
        }
    }
}

#[tokio::test]
async fn raw_system_calls_around_the_filter_fail() {
    for (name, local) in sandboxes("raw_system_calls_around_the_filter_fail") {
        let root = tempfile::tempdir().expect("root");
        // io_uring (425) would open sockets and files unseen by seccomp; the
        // x32 numbering (bit 30) of mount (165) would dodge a filter naming
        // only the x86-64 numbers.
        let script = [
            "import ctypes",
            "libc = ctypes.CDLL(None, use_errno=True)",
            "p = ctypes.create_string_buffer(120)",
            "print('io_uring_setup', 'ok' if libc.syscall(425, 8, p) >= 0 else 'refused')",
            "r = libc.syscall(0x40000000 | 165, b'none', b'/mnt', b'tmpfs', 0, None)",
            "print('x32 mount', 'ok' if r >= 0 else 'refused')",
        ]
        .join("\n");
        let script = script.as_str();
        let mut step = Step::new(root.path());
        step.risk = RiskLevel::Admin;
        let r = step
            .run_on(
                &local,
                &command(&["/usr/bin/python3", "-c", script], root.path()),
                None,
            )
            .await
            .expect("runs");
        assert_eq!(
            r.texts(skynet_core::provider::Stream::Stdout),
            ["io_uring_setup refused", "x32 mount refused"],
            "{name}: {}",
            r.all()
        );
    }
}
