//! How many memories each word of a search matches, estimated from
//! PostgreSQL's own statistics instead of counted at every search: the GIN
//! index reads every posting of a common word before a `LIMIT` applies, so
//! counting the words of one query took 27 ms at 100,000 memories.
//!
//! `ANALYZE` (autovacuum) samples `content_tsv`'s commonest lexemes with
//! the share of rows holding each (`pg_stats.most_common_elems`); a lexeme
//! not listed is rarer than every listed one and is estimated, as the
//! planner does, at half the least listed share. Shares are multiplied by
//! the live row count. The statistics are read at most once a minute per
//! store handle, and the lexeme of each query word (stemmed by the
//! `english` configuration) is remembered. A table never analysed has no
//! statistics: its words are counted.

use super::PostgresStore;
use crate::Result;
use crate::store::codec::LedgerRow;
use crate::store::sql::query;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long statistics read once are used.
const FRESH_FOR: Duration = Duration::from_secs(60);
/// Query words whose lexemes are remembered at most (then forgotten at once).
const LEXEMES_KEPT: usize = 10_000;

/// The statistics of `content_tsv`, with each word's lexeme.
#[derive(Debug, Default)]
pub struct TermStats {
    /// The last statistics read (`None` inside: there were none) and when.
    read: Mutex<Option<(Instant, Option<Arc<Frequencies>>)>>,
    /// Query word → its lexeme (`None`: a stop word, which matches nothing).
    lexemes: Mutex<HashMap<String, Option<String>>>,
}

/// Lexeme frequencies from one `ANALYZE`, scaled to the rows now live.
#[derive(Debug)]
struct Frequencies {
    rows: f64,
    share: HashMap<String, f64>,
    /// The share estimated for a lexeme not listed.
    unlisted: f64,
}

impl Frequencies {
    fn matches(&self, lexeme: &str) -> u64 {
        let share = self.share.get(lexeme).copied().unwrap_or(self.unlisted);
        (share * self.rows).round() as u64
    }
}

const STATS: &str = "SELECT array_to_json(s.most_common_elems::text::text[])::text AS elems, \
     array_to_json(s.most_common_elem_freqs)::text AS shares, \
     GREATEST(COALESCE((SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = c.oid), 0), \
     c.reltuples)::bigint AS rows \
     FROM pg_stats s JOIN pg_class c ON c.oid = 'memories'::regclass \
     WHERE s.schemaname = current_schema() AND s.tablename = 'memories' \
     AND s.attname = 'content_tsv'";

const LEXEMES: &str = "SELECT j.term AS term, \
     (tsvector_to_array(to_tsvector('english', j.term)))[1] AS lexeme \
     FROM json_array_elements_text($1::json) AS j(term)";

impl PostgresStore {
    /// Each of `terms` with about how many memories hold it: estimated
    /// from the statistics, or counted up to `budget + 1` without them.
    pub(super) async fn term_matches(
        &self,
        terms: &[String],
        budget: u32,
    ) -> Result<Vec<(String, u64)>> {
        let Some(freq) = self.frequencies().await? else {
            return self.fts_counts(terms, budget).await;
        };
        let lexemes = self.lexemes(terms).await?;
        Ok(terms
            .iter()
            .map(|t| {
                let n = match lexemes.get(t) {
                    Some(Some(lexeme)) => freq.matches(lexeme),
                    _ => 0,
                };
                (t.clone(), n)
            })
            .collect())
    }

    async fn frequencies(&self) -> Result<Option<Arc<Frequencies>>> {
        let stats = &self.state.term_stats;
        if let Some((at, freq)) = stats
            .read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return Ok(freq.clone());
        }
        // A server that will not show its statistics (a restricted role)
        // is counted instead, as a table without statistics is.
        let row = match query::<sqlx::Postgres>(STATS)
            .fetch_optional(&self.read)
            .await
        {
            Ok(row) => row,
            Err(e) => {
                tracing::warn!("reading full-text statistics failed, counting words instead: {e}");
                None
            }
        };
        let freq = match row {
            Some(row) => parse(
                row.opt_text("elems")?,
                row.opt_text("shares")?,
                row.int("rows")?,
            ),
            None => None,
        }
        .map(Arc::new);
        *stats.read.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), freq.clone()));
        Ok(freq)
    }

    /// The lexeme of each of `terms`, asking the server for those not
    /// seen before.
    async fn lexemes(&self, terms: &[String]) -> Result<HashMap<String, Option<String>>> {
        let cache = &self.state.term_stats.lexemes;
        let mut out = HashMap::with_capacity(terms.len());
        let mut missing = Vec::new();
        {
            let known = cache.lock().unwrap_or_else(|e| e.into_inner());
            for t in terms {
                match known.get(t) {
                    Some(lexeme) => {
                        out.insert(t.clone(), lexeme.clone());
                    }
                    None => missing.push(t.as_str()),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let listed = serde_json::to_string(&missing)
            .map_err(|e| crate::Error::store("encoding search terms", e))?;
        let rows = query::<sqlx::Postgres>(LEXEMES)
            .bind(listed)
            .fetch_all(&self.read)
            .await
            .map_err(crate::store::codec::db("stemming search terms"))?;
        let mut known = cache.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() + rows.len() > LEXEMES_KEPT {
            known.clear();
        }
        for row in rows {
            let (term, lexeme) = (row.text("term")?, row.opt_text("lexeme")?);
            known.insert(term.clone(), lexeme.clone());
            out.insert(term, lexeme);
        }
        Ok(out)
    }
}

/// Frequencies from `pg_stats`' arrays (as JSON): the listed shares are
/// followed by the least and greatest share and the share of NULLs.
fn parse(elems: Option<String>, shares: Option<String>, rows: i64) -> Option<Frequencies> {
    let elems: Vec<String> = serde_json::from_str(&elems?).ok()?;
    let shares: Vec<f64> = serde_json::from_str(&shares?).ok()?;
    let least = *shares.get(elems.len())?;
    if rows <= 0 {
        return None;
    }
    Some(Frequencies {
        rows: rows as f64,
        share: elems.into_iter().zip(shares).collect(),
        unlisted: least / 2.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_lexemes_have_their_share_and_others_half_the_least() {
        let f = parse(
            Some(r#"["check","host"]"#.into()),
            Some("[0.125,1,0.02,1,0]".into()),
            100_000,
        )
        .expect("statistics");
        assert_eq!(f.matches("host"), 100_000);
        assert_eq!(f.matches("check"), 12_500);
        assert_eq!(f.matches("zzz"), 1_000);
    }

    #[test]
    fn no_statistics_without_the_arrays_or_rows() {
        assert!(parse(None, Some("[1,1,1,0]".into()), 10).is_none());
        assert!(parse(Some(r#"["a"]"#.into()), Some("[1]".into()), 10).is_none());
        assert!(parse(Some(r#"["a"]"#.into()), Some("[1,1,1,0]".into()), 0).is_none());
    }
}
