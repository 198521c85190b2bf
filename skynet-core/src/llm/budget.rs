//! A daily token budget for LLM use, kept in a small JSON file beside the
//! ledger (`llm-usage.json` in SKYNET_HOME), not in the ledger itself, so
//! every process on the machine counts against the same day.
//!
//! The count is best effort across processes (read, add, write): two
//! planners finishing at the same instant may each miss the other's last
//! request. Within a process it is exact.

use super::Usage;
use crate::{Error, Result};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;

/// Tokens per UTC day, counted in memory and optionally in a file.
#[derive(Debug)]
pub struct TokenBudget {
    limit: u64,
    file: Option<PathBuf>,
    today: Mutex<Day>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Day {
    day: Option<NaiveDate>,
    tokens: u64,
}

impl TokenBudget {
    /// A budget of `limit` tokens per UTC day, persisted to `file` if given.
    pub fn new(limit: u64, file: Option<PathBuf>) -> Self {
        TokenBudget {
            limit,
            file,
            today: Mutex::new(Day::default()),
        }
    }

    /// The daily limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Tokens used today (UTC).
    pub fn used(&self) -> u64 {
        self.current().tokens
    }

    /// Refuse with a planning error once today's tokens reach the limit.
    pub fn check(&self) -> Result<()> {
        let used = self.used();
        if used >= self.limit {
            return Err(Error::Planning(format!(
                "the daily LLM token budget is spent ({used} of {} tokens used today, UTC); plan with the rules planner, wait until tomorrow, or raise [llm] daily_token_budget (SKYNET_LLM_DAILY_TOKENS)",
                self.limit
            )));
        }
        Ok(())
    }

    /// Count a request's tokens against today.
    pub fn record(&self, usage: &Usage) {
        let mut day = self.current();
        day.tokens = day.tokens.saturating_add(usage.total());
        if let Some(path) = &self.file
            && let Ok(text) = serde_json::to_string(&day)
            && let Err(e) = std::fs::write(path, text)
        {
            tracing::warn!(path = %path.display(), "cannot save LLM token usage: {e}");
        }
        if let Ok(mut mem) = self.today.lock() {
            *mem = day;
        }
    }

    /// Today's count: the larger of memory and the file, reset on a new day.
    fn current(&self) -> Day {
        let today = Utc::now().date_naive();
        let mem = self.today.lock().map(|d| d.clone()).unwrap_or_default();
        let file = self
            .file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str::<Day>(&t).ok())
            .unwrap_or_default();
        let count = |d: &Day| if d.day == Some(today) { d.tokens } else { 0 };
        Day {
            day: Some(today),
            tokens: count(&mem).max(count(&file)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_once_spent_and_persists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("llm-usage.json");
        let b = TokenBudget::new(100, Some(path.clone()));
        b.check().expect("fresh budget");
        b.record(&Usage {
            input_tokens: 60,
            output_tokens: 50,
        });
        let e = b.check().expect_err("spent");
        assert!(e.to_string().contains("110 of 100"), "{e}");
        // Another process (a new budget on the same file) sees the spend.
        let again = TokenBudget::new(100, Some(path));
        assert_eq!(again.used(), 110);
        assert!(again.check().is_err());
    }
}
