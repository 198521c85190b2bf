//! The event hash chain, shared by every backend so they hash alike.

use crate::job::JobId;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The `prev_hash` of a job's first event: a hash of the job id, so chains
/// of different jobs can never be spliced together.
pub fn genesis(job: &JobId) -> String {
    hex::encode(Sha256::digest(format!("skynet-genesis:{job}").as_bytes()))
}

/// The hash of one event. Time is hashed as RFC 3339 with microseconds,
/// which every backend stores losslessly.
pub fn event_hash(
    prev_hash: &str,
    job: &JobId,
    kind: &str,
    data: &serde_json::Value,
    at: DateTime<Utc>,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev_hash,
        job.as_str(),
        kind,
        &data.to_string(),
        &canonical_time(at),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Time truncated to microseconds in a fixed format.
pub fn canonical_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `at` truncated to whole microseconds (what backends store).
pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}
