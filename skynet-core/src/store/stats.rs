//! Per-provider statistics over recent finished jobs (for the scheduler):
//! one SQL text for both backends and one aggregation.

use crate::job::JobStatus;
use crate::store::ProviderStats;
use crate::store::codec::{LedgerRow, db};
use crate::{Error, Result};
use std::collections::BTreeMap;

/// The statuses that count as a finished run of a provider. A cancel, a
/// denial or a review says nothing about the provider.
pub(crate) const COUNTED: [JobStatus; 3] =
    [JobStatus::Succeeded, JobStatus::Failed, JobStatus::TimedOut];

/// A row: provider, status, started_at and finished_at (microseconds).
pub(crate) type StatsRow = (String, String, Option<i64>, Option<i64>);

/// The query for each provider's last `limit` counted jobs, newest
/// `finished_at` first. Portable SQL (a window function; SQLite >= 3.25 and
/// PostgreSQL). The statuses and the limit are written into the text:
/// both come from code (an enum and an integer), never from input.
pub(crate) fn query(limit: u32) -> String {
    let statuses = COUNTED
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT provider, status, started_at, finished_at FROM (\
           SELECT provider, status, started_at, finished_at, ROW_NUMBER() OVER \
             (PARTITION BY provider ORDER BY finished_at DESC, id DESC) AS recent \
           FROM jobs WHERE status IN ({statuses}) AND finished_at IS NOT NULL\
         ) AS counted WHERE recent <= {limit}"
    )
}

/// Fold rows into one [`ProviderStats`] per provider, sorted by name.
pub(crate) fn aggregate(rows: Vec<StatsRow>) -> Result<Vec<ProviderStats>> {
    let mut by_provider: BTreeMap<String, (u64, u64, Vec<i64>)> = BTreeMap::new();
    for (provider, status, started, finished) in rows {
        let status: JobStatus = status.parse()?;
        let entry = by_provider.entry(provider).or_default();
        entry.0 += 1;
        if status == JobStatus::Succeeded {
            entry.1 += 1;
            if let (Some(s), Some(f)) = (started, finished) {
                entry.2.push((f - s).max(0) / 1000);
            }
        }
    }
    Ok(by_provider
        .into_iter()
        .map(|(provider, (finished, succeeded, mut durations))| {
            durations.sort_unstable();
            ProviderStats {
                provider,
                finished,
                succeeded,
                median_duration_ms: median(&durations),
            }
        })
        .collect())
}

/// The median of sorted values (the mean of the middle two for an even
/// count); `None` when empty.
pub(crate) fn median(sorted: &[i64]) -> Option<u64> {
    let n = sorted.len();
    let m = match n {
        0 => return None,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    };
    u64::try_from(m).ok()
}

/// A row of [`query`]'s result.
pub(crate) fn row(row: &impl LedgerRow) -> Result<StatsRow> {
    Ok((
        row.text("provider")?,
        row.text("status")?,
        row.opt_int("started_at")?,
        row.opt_int("finished_at")?,
    ))
}

/// Map a failed stats query.
pub(crate) fn query_failed(e: sqlx::Error) -> Error {
    db("reading provider statistics")(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_counts_and_median_of_successes() {
        let row =
            |p: &str, s: &str, ms: i64| (p.to_string(), s.to_string(), Some(0), Some(ms * 1000));
        let stats = aggregate(vec![
            row("b", "succeeded", 10),
            row("a", "succeeded", 30),
            row("a", "failed", 1),
            row("a", "succeeded", 10),
            row("a", "timed_out", 900),
            row("a", "succeeded", 20),
            row("b", "succeeded", 40),
        ])
        .expect("aggregate");
        assert_eq!(
            stats,
            vec![
                ProviderStats {
                    provider: "a".into(),
                    finished: 5,
                    succeeded: 3,
                    median_duration_ms: Some(20),
                },
                ProviderStats {
                    provider: "b".into(),
                    finished: 2,
                    succeeded: 2,
                    median_duration_ms: Some(25),
                },
            ]
        );
        assert!(aggregate(vec![row("a", "nonsense", 1)]).is_err());
        assert_eq!(median(&[]), None);
    }
}
