//! Why an SSH host key was refused. Compiled with or without the `ssh`
//! feature: [`crate::Error::HostKeyRejected`] carries it.

use std::path::PathBuf;

/// Why a host key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostKeyProblem {
    /// No key is recorded for the host (or the file does not exist).
    #[error(
        "the host is not in {known_hosts} (it presents {fingerprint}); confirm that fingerprint with the host's administrator, then add the host's key to that file"
    )]
    Unknown {
        /// The known_hosts file consulted.
        known_hosts: PathBuf,
        /// SHA-256 fingerprint of the presented key.
        fingerprint: String,
    },
    /// A different key of the same type is recorded: the host was rebuilt,
    /// or someone is in the middle.
    #[error(
        "the host's key CHANGED: line {line} of {known_hosts} records another key, the host presents {fingerprint}; if the host was rebuilt, replace that line, otherwise treat it as an attack"
    )]
    Changed {
        /// The known_hosts file consulted.
        known_hosts: PathBuf,
        /// The line with the recorded key.
        line: usize,
        /// SHA-256 fingerprint of the presented key.
        fingerprint: String,
    },
    /// The host presented a certificate; only plain keys are checked.
    #[error("the host presented a certificate; record its plain host key in known_hosts instead")]
    Certificate,
    /// The known_hosts file could not be read or parsed.
    #[error("cannot use {known_hosts}: {reason}")]
    Unreadable {
        /// The known_hosts file.
        known_hosts: PathBuf,
        /// What failed.
        reason: String,
    },
}
