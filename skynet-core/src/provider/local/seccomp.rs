//! The seccomp filter every sandboxed step runs under, bubblewrap or
//! Landlock: the system calls a root step would use to leave its sandbox
//! (mounting, new namespaces, tracing other processes, loading kernel code)
//! fail with `EPERM`, whatever the step's capabilities.
//!
//! Bubblewrap reads the compiled program from a file descriptor
//! (`--add-seccomp-fd FD`, see [`SeccompFd`]); under Landlock the spawning thread
//! installs it itself ([`apply_to_this_thread`]).

use nix::libc;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::OnceLock;

/// What a step may still do; each combination compiles to one program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rules {
    /// The step may open network (and unix) sockets.
    pub(crate) network: bool,
    /// The step shares the host's PID namespace and the kernel cannot
    /// scope its signals (Landlock before ABI 6): signals to anything but
    /// its own process group are denied.
    pub(crate) deny_signals: bool,
    /// The step shares the host's network namespace (the Inspect profile):
    /// `connect` fails on every socket, so even a descriptor it did not
    /// create reaches no host service. Sockets of the network families are
    /// refused already unless `network`; netlink (`ss`, `ip`) talks to the
    /// kernel with `sendmsg`, never `connect`.
    pub(crate) deny_connect: bool,
}

/// System calls no step needs and a root step would escape with.
const DENIED: &[libc::c_long] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_kcmp,
    libc::SYS_pidfd_getfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_userfaultfd,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_personality,
    // io_uring runs socket, connect and open operations seccomp never sees.
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
];

/// `clone` flags that create namespaces (a way around `unshare`).
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWTIME as u64,
];

/// Socket families that reach other machines or host services.
const NETWORK_FAMILIES: &[i32] = &[
    libc::AF_UNIX,
    libc::AF_INET,
    libc::AF_INET6,
    libc::AF_PACKET,
    libc::AF_VSOCK,
    libc::AF_XDP,
];

/// The compiled programs for `rules` (compiled once per process): the
/// denials, then `clone3` answered with ENOSYS, then (x86-64) the x32
/// system call numbers refused. seccompiler gives a filter one action on
/// match, hence several programs; the kernel runs them all.
pub(crate) fn programs(rules: Rules) -> Result<&'static [BpfProgram], String> {
    static PROGRAMS: [OnceLock<Result<Vec<BpfProgram>, String>>; 8] =
        [const { OnceLock::new() }; 8];
    let slot = usize::from(rules.network)
        | (usize::from(rules.deny_signals) << 1)
        | (usize::from(rules.deny_connect) << 2);
    PROGRAMS[slot]
        .get_or_init(|| {
            let mut all = vec![compile(rules)?, no_clone3()?];
            all.extend(no_x32());
            Ok(all)
        })
        .as_deref()
        .map_err(Clone::clone)
}

fn arch() -> Result<TargetArch, String> {
    std::env::consts::ARCH
        .try_into()
        .map_err(|e| format!("seccomp does not support this architecture: {e:?}"))
}

fn compile(rules: Rules) -> Result<BpfProgram, String> {
    let mut map: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for nr in DENIED {
        map.insert(*nr, Vec::new());
    }
    let clone = NAMESPACE_FLAGS
        .iter()
        .map(|flag| rule(&[(0, SeccompCmpOp::MaskedEq(*flag), *flag)]))
        .collect::<Result<_, _>>()?;
    map.insert(libc::SYS_clone, clone);
    // Terminal injection (TIOCSTI) and console takeover (TIOCLINUX). The
    // constants' type differs between C libraries, hence the casts.
    #[allow(clippy::unnecessary_cast)]
    map.insert(
        libc::SYS_ioctl,
        vec![
            rule(&[(1, SeccompCmpOp::Eq, libc::TIOCSTI as u64)])?,
            rule(&[(1, SeccompCmpOp::Eq, libc::TIOCLINUX as u64)])?,
        ],
    );
    // Priorities of other processes: only the step itself (`nice CMD`).
    map.insert(
        libc::SYS_setpriority,
        vec![
            rule(&[(0, SeccompCmpOp::Ne, libc::PRIO_PROCESS as u64)])?,
            rule(&[(1, SeccompCmpOp::Ne, 0)])?,
        ],
    );
    map.insert(
        libc::SYS_ioprio_set,
        vec![
            // IOPRIO_WHO_PROCESS is 1.
            rule(&[(0, SeccompCmpOp::Ne, 1)])?,
            rule(&[(1, SeccompCmpOp::Ne, 0)])?,
        ],
    );
    if !rules.network {
        let socket = NETWORK_FAMILIES
            .iter()
            .map(|family| rule(&[(0, SeccompCmpOp::Eq, *family as u64)]))
            .collect::<Result<_, _>>()?;
        map.insert(libc::SYS_socket, socket);
    }
    if rules.deny_connect {
        map.insert(libc::SYS_connect, Vec::new());
    }
    if rules.deny_signals {
        // Only the step's own process group (pid 0); nothing else can be
        // told apart from a host process here.
        map.insert(libc::SYS_kill, vec![rule(&[(0, SeccompCmpOp::Ne, 0)])?]);
        for nr in [
            libc::SYS_tkill,
            libc::SYS_tgkill,
            libc::SYS_rt_sigqueueinfo,
            libc::SYS_rt_tgsigqueueinfo,
            libc::SYS_pidfd_send_signal,
        ] {
            map.insert(nr, Vec::new());
        }
    }
    build(map, libc::EPERM)
}

/// `clone3` passes its flags in memory seccomp cannot read: ENOSYS makes
/// the C library fall back to `clone`, whose flags the filter checks.
fn no_clone3() -> Result<BpfProgram, String> {
    build(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        libc::ENOSYS,
    )
}

/// On x86-64 the x32 ABI reaches every system call again under its own
/// numbers (bit 30 set), which the rules above never name: refuse them all.
/// (Other architectures are killed by seccompiler's architecture check.)
#[cfg(target_arch = "x86_64")]
fn no_x32() -> Option<BpfProgram> {
    use seccompiler::sock_filter;
    const LD_ABS_W: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ERRNO: u32 = 0x0005_0000;
    let insn = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    Some(vec![
        // seccomp_data: nr at offset 0, arch at 4.
        insn(LD_ABS_W, 0, 0, 4),
        insn(JEQ_K, 0, 3, AUDIT_ARCH_X86_64),
        insn(LD_ABS_W, 0, 0, 0),
        insn(JGE_K, 0, 1, X32_SYSCALL_BIT),
        insn(RET_K, 0, 0, RET_ERRNO | libc::ENOSYS as u32),
        insn(RET_K, 0, 0, RET_ALLOW),
    ])
}

#[cfg(not(target_arch = "x86_64"))]
fn no_x32() -> Option<BpfProgram> {
    None
}

fn build(map: BTreeMap<i64, Vec<SeccompRule>>, errno: i32) -> Result<BpfProgram, String> {
    let filter = SeccompFilter::new(
        map,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        arch()?,
    )
    .map_err(|e| format!("cannot build the seccomp filter: {e}"))?;
    filter
        .try_into()
        .map_err(|e| format!("cannot compile the seccomp filter: {e}"))
}

fn rule(conditions: &[(u8, SeccompCmpOp, u64)]) -> Result<SeccompRule, String> {
    let conditions = conditions
        .iter()
        .map(|(arg, op, value)| {
            SeccompCondition::new(*arg, SeccompCmpArgLen::Qword, op.clone(), *value)
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    SeccompRule::new(conditions).map_err(|e| e.to_string())
}

/// The program as bytes, the way bubblewrap reads it (`struct sock_filter`
/// in native byte order).
pub(crate) fn to_bytes(program: &BpfProgram) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for insn in program {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    bytes
}

/// Install `programs` on the calling thread (and what it starts from now
/// on); sets `no_new_privs` first.
#[cfg_attr(not(feature = "sandbox"), allow(dead_code))]
pub(crate) fn apply_to_this_thread(programs: &[BpfProgram]) -> Result<(), String> {
    for program in programs {
        seccompiler::apply_filter(program).map_err(|e| format!("cannot install seccomp: {e}"))?;
    }
    Ok(())
}

/// The program in a sealed memory file whose descriptor a child inherits
/// (for `bwrap --add-seccomp-fd FD`). Sealed, so no process that inherits it by
/// accident can change it; closed when dropped.
#[derive(Debug)]
pub(crate) struct SeccompFd {
    fd: OwnedFd,
}

impl SeccompFd {
    /// Write `program` into a new sealed memfd, inheritable across exec.
    pub(crate) fn new(program: &BpfProgram) -> Result<SeccompFd, String> {
        use nix::fcntl::{FcntlArg, FdFlag, SealFlag, fcntl};
        use nix::sys::memfd::{MemFdCreateFlag, memfd_create};
        let fd = memfd_create(c"skynet-seccomp", MemFdCreateFlag::MFD_ALLOW_SEALING)
            .map_err(|e| format!("memfd_create: {e}"))?;
        let bytes = to_bytes(program);
        let mut written = 0;
        while written < bytes.len() {
            written += nix::unistd::write(fd.as_fd(), &bytes[written..])
                .map_err(|e| format!("writing the seccomp program: {e}"))?;
        }
        nix::unistd::lseek(fd.as_raw_fd(), 0, nix::unistd::Whence::SeekSet)
            .map_err(|e| format!("lseek: {e}"))?;
        let seals = SealFlag::F_SEAL_WRITE
            | SealFlag::F_SEAL_GROW
            | SealFlag::F_SEAL_SHRINK
            | SealFlag::F_SEAL_SEAL;
        fcntl(fd.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals)).map_err(|e| format!("seal: {e}"))?;
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty()))
            .map_err(|e| format!("fcntl: {e}"))?;
        Ok(SeccompFd { fd })
    }

    /// The descriptor's number (the same in the child).
    pub(crate) fn number(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_combination_compiles_and_serialises() {
        for slot in 0..8u8 {
            let programs = programs(Rules {
                network: slot & 1 != 0,
                deny_signals: slot & 2 != 0,
                deny_connect: slot & 4 != 0,
            })
            .expect("compiles");
            assert!(programs.len() >= 2);
            for p in programs {
                assert!(!p.is_empty());
                assert_eq!(to_bytes(p).len(), p.len() * 8);
            }
        }
        // Cutting sockets, signals and connect makes the program longer.
        let open = programs(Rules {
            network: true,
            deny_signals: false,
            deny_connect: false,
        })
        .expect("open");
        let closed = programs(Rules {
            network: false,
            deny_signals: true,
            deny_connect: false,
        })
        .expect("closed");
        let inspect = programs(Rules {
            network: false,
            deny_signals: true,
            deny_connect: true,
        })
        .expect("inspect");
        assert!(closed[0].len() > open[0].len());
        assert!(inspect[0].len() > closed[0].len());
    }

    #[test]
    fn the_descriptor_holds_the_program_and_survives_exec() {
        let program = &programs(Rules {
            network: false,
            deny_signals: false,
            deny_connect: false,
        })
        .expect("compiles")[0];
        let fd = SeccompFd::new(program).expect("memfd");
        let path = format!("/proc/self/fd/{}", fd.number());
        assert_eq!(std::fs::read(&path).expect("read"), to_bytes(program));
        let flags = nix::fcntl::fcntl(fd.number(), nix::fcntl::FcntlArg::F_GETFD).expect("flags");
        assert_eq!(flags & nix::libc::FD_CLOEXEC, 0);
    }
}
