//! What a remote reader may see: the one redaction rule every front-end
//! (HTTP, Telegram) applies, so they cannot disagree. Internals (storage,
//! I/O) are for the operator's log and hidden from every remote reader; a
//! provider's own words may name hosts, paths or credentials, so only an
//! `admin` reads them.

use crate::Error;
use crate::sentinel::ProviderReport;
use crate::store::keys::{Grant, Scope};

/// Who reads an error or a health report, as far as redaction cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Holds the `admin` scope: sees provider details.
    Admin,
    /// Anyone else, including a caller not yet identified.
    Other,
}

impl Viewer {
    /// The viewer holding `grant`.
    pub fn of(grant: &Grant) -> Self {
        if grant.allows(Scope::Admin) {
            Viewer::Admin
        } else {
            Viewer::Other
        }
    }
}

/// The words shown instead of an internal error.
pub const INTERNAL_WORDS: &str = "SKYNET failed internally; the operator's log has the details";

impl Error {
    /// What `viewer` may read of this error: `None` when the whole message
    /// may be shown, else the words to show instead. The caller logs the
    /// error itself when [`Error::is_internal`].
    pub fn withheld_for(&self, viewer: Viewer) -> Option<String> {
        match self {
            e if e.is_internal() => Some(INTERNAL_WORDS.to_string()),
            Error::Provider { provider, .. } if viewer != Viewer::Admin => Some(format!(
                "provider {provider} failed; the details need an admin key"
            )),
            _ => None,
        }
    }
}

impl ProviderReport {
    /// The newest check's message as `viewer` may read it: a passing check
    /// says nothing secret; a failing one's words are for an admin.
    pub fn message_for(&self, viewer: Viewer) -> String {
        if self.healthy == Some(true) || viewer == Viewer::Admin {
            self.message.clone()
        } else {
            format!("{}; the details need an admin key", self.status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Principal;
    use crate::sentinel::HealthStatus;

    fn grant(scopes: Vec<Scope>) -> Grant {
        Grant {
            principal: Principal::local(),
            scopes,
            actor: "test".into(),
        }
    }

    #[test]
    fn only_an_admin_reads_a_providers_words() {
        let e = Error::Provider {
            provider: "ssh-prod".into(),
            message: "auth failed for deploy@10.0.0.7 with key /root/.ssh/id_ed25519".into(),
        };
        let reader = Viewer::of(&grant(vec![Scope::Read, Scope::Approve]));
        assert_eq!(reader, Viewer::Other);
        let shown = e.withheld_for(reader).expect("withheld from a non-admin");
        assert_eq!(
            shown,
            "provider ssh-prod failed; the details need an admin key"
        );
        assert!(!shown.contains("10.0.0.7") && !shown.contains("id_ed25519"));
        assert_eq!(e.withheld_for(Viewer::of(&grant(vec![Scope::Admin]))), None);
    }

    #[test]
    fn internals_are_withheld_from_everyone_and_refusals_from_no_one() {
        let io = Error::Io(std::io::Error::other(
            "/var/lib/skynet/ledger.db: disk full",
        ));
        for viewer in [Viewer::Admin, Viewer::Other] {
            assert_eq!(io.withheld_for(viewer).as_deref(), Some(INTERNAL_WORDS));
            assert_eq!(Error::Cancelled.withheld_for(viewer), None);
        }
    }

    #[test]
    fn a_failing_providers_health_message_is_for_an_admin() {
        let report = ProviderReport {
            name: "ssh-prod".into(),
            status: HealthStatus::Unhealthy,
            healthy: Some(false),
            message: "connect to 10.0.0.7:22 refused".into(),
            latency_ms: None,
            consecutive_failures: 3,
            health_ratio: None,
            checked_at: None,
        };
        assert_eq!(
            report.message_for(Viewer::Other),
            "unhealthy; the details need an admin key"
        );
        assert_eq!(report.message_for(Viewer::Admin), report.message);
        let passing = ProviderReport {
            healthy: Some(true),
            status: HealthStatus::Healthy,
            message: "ok".into(),
            ..report
        };
        assert_eq!(passing.message_for(Viewer::Other), "ok");
    }
}
