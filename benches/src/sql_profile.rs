//! The time the database spent per statement (sqlx's `sqlx::query` debug
//! events, by statement text): count, total and slowest, printed largest
//! first. The logging itself costs time: a run that profiles is not the
//! measurement.

use std::collections::HashMap;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};

/// A statement's count, seconds in all and slowest seconds.
type Tally = (u64, f64, f64);

/// Per statement text.
static TOTALS: Mutex<Option<HashMap<String, Tally>>> = Mutex::new(None);

struct Profile;

#[derive(Default)]
struct Fields {
    sql: String,
    summary: String,
    secs: f64,
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.secs = value;
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "db.statement" => self.sql = value.trim().to_string(),
            "summary" => self.summary = value.to_string(),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.summary = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Profile {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.target() == "sqlx::query"
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let text = if f.sql.is_empty() { f.summary } else { f.sql };
        let key: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let key: String = key.chars().take(110).collect();
        if let Ok(mut totals) = TOTALS.lock() {
            let e = totals
                .get_or_insert_with(HashMap::new)
                .entry(key)
                .or_default();
            e.0 += 1;
            e.1 += f.secs;
            e.2 = e.2.max(f.secs);
        }
    }
}

/// Start recording (the process's global tracing subscriber).
pub fn install() {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(Profile);
    tracing::subscriber::set_global_default(subscriber).expect("subscriber");
}

/// Forget the totals so far (the untimed setup's statements).
pub fn reset() {
    if let Ok(mut totals) = TOTALS.lock() {
        *totals = None;
    }
}

/// Print and reset the totals, largest first.
pub fn report(label: &str) {
    let Some(totals) = TOTALS.lock().ok().and_then(|mut t| t.take()) else {
        return;
    };
    let mut rows: Vec<_> = totals.into_iter().collect();
    rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    let all: f64 = rows.iter().map(|r| r.1.1).sum();
    eprintln!("{label}: SQL {all:.2} s in all");
    for (sql, (n, secs, slowest)) in rows.iter().take(25) {
        eprintln!(
            "  {secs:7.3} s {n:7} × (slowest {:.1} ms) {sql}",
            slowest * 1e3
        );
    }
}
