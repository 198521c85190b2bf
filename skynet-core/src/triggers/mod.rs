//! Triggers: "when an event matches this filter, submit this intent".
//!
//! A trigger belongs to the principal that made it and names the event
//! types it listens to (names or prefixes, as `/v1/events?type=` takes
//! them), optional payload fields that must be equal (`provider =
//! docker`), an intent, and a rate limit (at most `max_firings` per
//! `window`). The engine reads the global event log as the durable consumer
//! [`TRIGGER_CONSUMER`]; every event that matches an enabled trigger is
//! submitted like any other intent (planned, judged, READ_ONLY work
//! auto-approved, anything riskier waiting for a human) with source
//! `trigger` and an origin naming the trigger and the event. The firing's
//! row is keyed by `(trigger, event)` and written in the job's own
//! transaction, under the trigger's row lock, where the rate limit is
//! counted: any number of processes fire each event at most once per
//! trigger, and no restart resets a limit.
//!
//! Loops are impossible by construction ([`never_fires`]): events about a
//! job started by a trigger, a schedule or the initiative engine, and the
//! events those engines report themselves, never fire a trigger.

use crate::events::{EventType, SystemEvent};
use crate::principal::Principal;
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The durable consumer name the trigger engine reads the log under.
pub const TRIGGER_CONSUMER: &str = "triggers";
/// The longest intent a trigger takes (bytes).
pub const MAX_INTENT: usize = 4096;
/// The longest name (characters).
pub const MAX_NAME: usize = 128;
/// Payload conditions a trigger may hold.
pub const MAX_CONDITIONS: usize = 16;
/// The default rate limit: firings per window.
pub const DEFAULT_MAX_FIRINGS: u32 = 3;
/// The default rate limit's window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

/// How often a trigger may fire: at most `max_firings` in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateLimit {
    /// Firings allowed per window (at least 1).
    pub max_firings: u32,
    /// The window, in seconds (1 s to 7 days).
    pub window_secs: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            max_firings: DEFAULT_MAX_FIRINGS,
            window_secs: DEFAULT_WINDOW.as_secs(),
        }
    }
}

impl RateLimit {
    /// The window as a duration.
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }

    /// Check the limit's bounds.
    pub fn check(&self) -> Result<()> {
        if self.max_firings == 0 {
            return Err(Error::InvalidInput(
                "a trigger's rate limit must allow at least 1 firing per window (e.g. 3/hour)"
                    .into(),
            ));
        }
        if self.window_secs == 0 || self.window_secs > 7 * 24 * 3600 {
            return Err(Error::InvalidInput(
                "a trigger's rate limit window must be between 1 second and 7 days".into(),
            ));
        }
        Ok(())
    }
}

impl std::str::FromStr for RateLimit {
    type Err = Error;
    /// `N/hour`, `N/minute`, `N/day`, `N/second`, or a bare `N` (per hour).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidInput(format!(
                "rate limit {s:?} is not N/hour, N/minute, N/day or N (per hour), N at least 1"
            ))
        };
        let (n, per) = s.trim().split_once('/').unwrap_or((s.trim(), "hour"));
        let max_firings: u32 = n.trim().parse().map_err(|_| bad())?;
        let window_secs = match per.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            _ => return Err(bad()),
        };
        let limit = RateLimit {
            max_firings,
            window_secs,
        };
        limit.check()?;
        Ok(limit)
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.window_secs {
            1 => write!(f, "{}/second", self.max_firings),
            60 => write!(f, "{}/minute", self.max_firings),
            3600 => write!(f, "{}/hour", self.max_firings),
            86_400 => write!(f, "{}/day", self.max_firings),
            s => write!(f, "{} per {s}s", self.max_firings),
        }
    }
}

/// A trigger to create.
#[derive(Debug, Clone, Default)]
pub struct NewTrigger {
    /// A short name (default: the intent, shortened).
    pub name: Option<String>,
    /// The event types: names or prefixes, comma separated (`provider.*,job.failed`).
    pub on: String,
    /// Payload fields that must equal these values (top-level fields of
    /// the event's payload, compared as text: `provider = docker`).
    pub conditions: BTreeMap<String, String>,
    /// What to submit when it fires.
    pub intent: String,
    /// How often it may fire (default 3 an hour).
    pub rate: Option<RateLimit>,
    /// Sandbox root of the jobs (default: the current directory, or `base`).
    pub root: Option<std::path::PathBuf>,
    /// Confine `root` to this directory (a server confines its callers).
    pub base: Option<std::path::PathBuf>,
}

/// A stored trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Trigger {
    /// Its id (UUIDv7).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Who owns it (and its jobs).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub principal: Principal,
    /// The event types it listens to, as given (names or prefixes).
    pub on: String,
    /// Payload fields that must be equal.
    pub conditions: BTreeMap<String, String>,
    /// What it submits.
    pub intent: String,
    /// How often it may fire.
    pub rate: RateLimit,
    /// Paused: it fires nothing until resumed.
    pub paused: bool,
    /// The jobs' sandbox root.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub root: std::path::PathBuf,
    /// When it was made; only events from then on fire it.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: DateTime<Utc>,
    /// Times it fired (a job was made).
    pub fired: u64,
    /// When it last fired.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_fired_at: Option<DateTime<Utc>>,
}

impl Trigger {
    /// The event types it listens to.
    pub fn types(&self) -> Result<Vec<EventType>> {
        listened_types(&self.on)
    }

    /// Whether `event` (of one of [`Trigger::types`]) fires it: made at or
    /// after the trigger, every condition equal, and not an event of the
    /// autonomous engines.
    pub fn matches(&self, types: &[EventType], event: &SystemEvent) -> bool {
        types.contains(&event.event_type)
            && event.at >= self.created_at
            && !never_fires(event)
            && self
                .conditions
                .iter()
                .all(|(field, want)| payload_field(event, field).as_deref() == Some(want.as_str()))
    }
}

/// The event types a filter names, without those that never fire a
/// trigger; an error when nothing is left.
pub fn listened_types(on: &str) -> Result<Vec<EventType>> {
    if on.trim().is_empty() {
        return Err(Error::InvalidInput(
            "say which events fire the trigger: event types or prefixes such as \
             `provider.degraded` or `job.*`"
                .into(),
        ));
    }
    let types: Vec<EventType> = EventType::parse_filter(on)?
        .into_iter()
        .filter(|t| !never_fires_type(*t))
        .collect();
    if types.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{on:?} names only events of triggers, schedules or the initiative engine, which \
             never fire a trigger (so no trigger can start a loop); choose other event types"
        )));
    }
    Ok(types)
}

/// Types the autonomous engines report about themselves.
fn never_fires_type(t: EventType) -> bool {
    matches!(
        t,
        EventType::TriggerFired
            | EventType::TriggerSkipped
            | EventType::ScheduleFired
            | EventType::InitiativeProposed
            | EventType::InitiativeStarted
            | EventType::InitiativeSkipped
    )
}

/// Sources of the autonomous engines (their events never fire a trigger).
const AUTONOMOUS_SOURCES: [&str; 3] = ["trigger", "schedule", "initiative"];

/// Whether `event` can never fire a trigger, whatever its job: reported
/// by a trigger, a schedule or the initiative engine. (Events about a job
/// those started are recognised by the job's source, in the engine.)
pub fn never_fires(event: &SystemEvent) -> bool {
    never_fires_type(event.event_type) || AUTONOMOUS_SOURCES.contains(&event.source.as_str())
}

/// A top-level field of `event`'s payload as text (strings as they are,
/// numbers and booleans written out; absent, null, lists and objects:
/// `None`).
pub fn payload_field(event: &SystemEvent, field: &str) -> Option<String> {
    match event.payload.to_json().get(field)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parse `k=v` conditions (`--where provider=docker`).
pub fn parse_conditions<'a>(
    pairs: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(Error::InvalidInput(format!(
                "condition {pair:?} is not FIELD=VALUE (e.g. provider=docker)"
            )));
        };
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    check_conditions(&out)?;
    Ok(out)
}

/// Check payload conditions: at most [`MAX_CONDITIONS`], each field a
/// plain identifier, each value at most 256 bytes.
pub fn check_conditions(conditions: &BTreeMap<String, String>) -> Result<()> {
    if conditions.len() > MAX_CONDITIONS {
        return Err(Error::InvalidInput(format!(
            "a trigger takes at most {MAX_CONDITIONS} payload conditions"
        )));
    }
    for (k, v) in conditions {
        let plain = !k.is_empty()
            && k.len() <= 64
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain {
            return Err(Error::InvalidInput(format!(
                "payload field {k:?} must be a plain field name (letters, digits, _), \
                 as docs/events.md lists them"
            )));
        }
        if v.len() > 256 || v.chars().any(char::is_control) {
            return Err(Error::InvalidInput(format!(
                "the value for {k:?} must be at most 256 printable bytes"
            )));
        }
    }
    Ok(())
}

/// What firing a trigger for one event records.
#[derive(Debug, Clone)]
pub struct TriggerFiring {
    /// The trigger.
    pub trigger: String,
    /// The event's id in the global log.
    pub event: i64,
    /// When (counts against the rate limit from then on).
    pub at: DateTime<Utc>,
    /// The job to insert (none when planning or the policy refused the
    /// intent: `error` says why).
    pub job: Option<crate::Job>,
    /// Why no job was made.
    pub error: Option<String>,
}

/// What recording a [`TriggerFiring`] did.
#[derive(Debug, Clone)]
pub enum TriggerFired {
    /// This call fired the trigger (with its job, if one was made).
    Now(Option<Box<crate::Job>>),
    /// The rate limit was reached: recorded as skipped, no job.
    RateLimited,
    /// The event already fired this trigger (another process), or the
    /// trigger is paused or gone: nothing was written.
    Already,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_bad_ones_are_refused() {
        let r: RateLimit = "5/day".parse().unwrap();
        assert_eq!((r.max_firings, r.window_secs), (5, 86_400));
        assert_eq!("2".parse::<RateLimit>().unwrap().window_secs, 3600);
        assert_eq!(RateLimit::default().to_string(), "3/hour");
        for bad in ["0/hour", "x", "3/fortnight", "-1", ""] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_drop_the_autonomous_engines_types() {
        assert!(listened_types("trigger.*").is_err());
        assert!(listened_types("schedule.fired,initiative.*").is_err());
        assert!(listened_types("").is_err());
        assert!(listened_types("job.explode").is_err());
        let all = listened_types("*").unwrap();
        assert!(!all.contains(&EventType::TriggerFired));
        assert!(all.contains(&EventType::JobFailed));
    }

    #[test]
    fn conditions_parse() {
        let c = parse_conditions(["provider=docker", "status = failed"]).unwrap();
        assert_eq!(c["provider"], "docker");
        assert_eq!(c["status"], "failed");
        assert!(parse_conditions(["provider"]).is_err());
        assert!(parse_conditions(["a.b=c"]).is_err());
    }
}
