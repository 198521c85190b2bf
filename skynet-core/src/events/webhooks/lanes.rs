//! Which claimed deliveries the delivery loop sends next: one lane per
//! endpoint, each holding at most `per_endpoint` requests in flight and
//! as many claimed deliveries waiting behind them, all lanes together at
//! most `concurrency` in flight. Lanes take turns (round robin), so a
//! slow endpoint fills only its own lane and the others keep going.
//!
//! Claims are asked for in batches (a lane asks when its waiting part is
//! half empty), so the ledger sees one claim per batch, not one per
//! request. A lane holds `2 × per_endpoint` claimed deliveries, or, with a
//! wait budget ([`Lanes::wait_budget`]), as many as its recent request
//! time lets it send within a quarter of that budget (at most
//! [`MAX_DEPTH`]): a fast endpoint is fed in large batches (few claims and
//! commits on a busy ledger), a slow one in small ones. A delivery that
//! waited too long anyway is handed back as stale so its lease can lapse
//! and it is claimed again.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Claimed deliveries one lane holds at most (in flight and waiting).
pub const MAX_DEPTH: usize = 512;
/// Claimed deliveries waiting in all lanes together, at most, beside
/// those in flight (with a wait budget).
const MAX_WAITING: usize = 2048;

/// One endpoint's lane.
#[derive(Debug)]
struct Lane<T> {
    waiting: VecDeque<(T, Instant)>,
    in_flight: usize,
    /// The last claim got fewer than it asked: nothing more is due now.
    dry_since: Option<Instant>,
    /// Its recent request time in milliseconds (moving average).
    request_ms: Option<f64>,
}

impl<T> Default for Lane<T> {
    fn default() -> Self {
        Lane {
            waiting: VecDeque::new(),
            in_flight: 0,
            dry_since: None,
            request_ms: None,
        }
    }
}

/// The lanes of every endpoint (see the module docs).
#[derive(Debug)]
pub struct Lanes<T> {
    concurrency: usize,
    per_endpoint: usize,
    lanes: BTreeMap<String, Lane<T>>,
    in_flight: usize,
    waiting: usize,
    /// Where the next round robin turn starts.
    turn: usize,
    /// How long a claimed delivery may wait for its request.
    budget: Option<Duration>,
}

/// What [`Lanes::next`] hands out.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<T> {
    /// Send it now (it counts as in flight until [`Lanes::finished`]).
    Send(T),
    /// It waited past `max_wait`: do not send it (its lease is about to
    /// lapse and it will be claimed again).
    Stale(T),
}

impl<T> Lanes<T> {
    /// Lanes allowing `concurrency` requests in all, `per_endpoint` to
    /// one endpoint (both at least 1).
    pub fn new(concurrency: usize, per_endpoint: usize) -> Self {
        let concurrency = concurrency.max(1);
        Lanes {
            concurrency,
            per_endpoint: per_endpoint.clamp(1, concurrency),
            lanes: BTreeMap::new(),
            in_flight: 0,
            waiting: 0,
            turn: 0,
            budget: None,
        }
    }

    /// Let lanes hold as many claimed deliveries as their recent request
    /// time lets them send within a quarter of `budget` (the longest a
    /// claimed delivery may wait), instead of `2 × per_endpoint`.
    pub fn wait_budget(mut self, budget: Duration) -> Self {
        self.budget = Some(budget);
        self
    }

    /// A request to `endpoint` took `took`: its lane's depth follows.
    pub fn timed(&mut self, endpoint: &str, took: Duration) {
        if let Some(lane) = self.lanes.get_mut(endpoint) {
            let ms = took.as_secs_f64() * 1000.0;
            lane.request_ms = Some(lane.request_ms.map_or(ms, |avg| 0.8 * avg + 0.2 * ms));
        }
    }

    /// How many claimed deliveries `lane` holds at most.
    fn depth(&self, lane: &Lane<T>) -> usize {
        let base = 2 * self.per_endpoint;
        match (self.budget, lane.request_ms) {
            (Some(budget), Some(ms)) => {
                let rounds = budget.as_secs_f64() * 1000.0 / 4.0 / ms.max(1.0);
                // Saturating float-to-int cast; clamped right after.
                ((self.per_endpoint as f64 * rounds) as usize).clamp(base, MAX_DEPTH.max(base))
            }
            _ => base,
        }
    }

    /// Keep lanes for exactly these endpoints: new ones are opened, the
    /// waiting deliveries of endpoints no longer listed are dropped
    /// (their leases lapse) and their lanes closed once nothing of
    /// theirs is in flight.
    pub fn keep<'a>(&mut self, endpoints: impl IntoIterator<Item = &'a str>) {
        let keep: std::collections::BTreeSet<&str> = endpoints.into_iter().collect();
        for id in &keep {
            self.lanes.entry((*id).to_string()).or_default();
        }
        let mut dropped = 0;
        self.lanes.retain(|id, lane| {
            if keep.contains(id.as_str()) {
                return true;
            }
            dropped += lane.waiting.len();
            lane.waiting.clear();
            lane.in_flight > 0
        });
        self.waiting -= dropped;
    }

    /// Forget that lanes ran dry (new deliveries were enqueued).
    pub fn wake(&mut self) {
        for lane in self.lanes.values_mut() {
            lane.dry_since = None;
        }
    }

    /// How many deliveries to claim per endpoint now (none when every
    /// lane is full enough, or ran dry less than `retry_dry` ago).
    pub fn wants(&self, now: Instant, retry_dry: Duration) -> Vec<(String, u32)> {
        let held = if self.budget.is_some() {
            self.concurrency + MAX_WAITING
        } else {
            2 * self.concurrency
        };
        let mut room = held.saturating_sub(self.in_flight + self.waiting);
        let mut out = Vec::new();
        for (id, lane) in self.in_turn() {
            if room == 0 {
                break;
            }
            let dry = lane
                .dry_since
                .is_some_and(|at| now.duration_since(at) < retry_dry);
            let depth = self.depth(lane);
            // Ask when the waiting part is at most half full: a batch.
            if dry || 2 * lane.waiting.len() > depth - self.per_endpoint {
                continue;
            }
            let want = depth
                .saturating_sub(lane.in_flight + lane.waiting.len())
                .min(room);
            if want > 0 {
                room -= want;
                out.push((id.clone(), u32::try_from(want).unwrap_or(u32::MAX)));
            }
        }
        out
    }

    /// Add what a claim for `endpoint` got; `asked` is how many it asked
    /// for (fewer back: the lane ran dry).
    pub fn claimed(&mut self, endpoint: &str, got: Vec<T>, asked: u32, now: Instant) {
        let Some(lane) = self.lanes.get_mut(endpoint) else {
            return;
        };
        lane.dry_since = (got.len() < asked as usize).then_some(now);
        self.offer(endpoint, got, now);
    }

    /// Add deliveries `endpoint`'s lane got without a claim (leased when
    /// they were enqueued); how many a lane wants is [`Lanes::wants`]
    /// (asked with a `retry_dry` of zero: they are new).
    pub fn offer(&mut self, endpoint: &str, got: Vec<T>, now: Instant) {
        let Some(lane) = self.lanes.get_mut(endpoint) else {
            return;
        };
        self.waiting += got.len();
        lane.waiting.extend(got.into_iter().map(|d| (d, now)));
    }

    /// The next delivery to send, lanes taking turns, or `None` when the
    /// pool is full or no lane with room has one waiting. A delivery
    /// that waited longer than `max_wait` comes back [`Next::Stale`] and
    /// does not count as in flight.
    pub fn next(&mut self, now: Instant, max_wait: Duration) -> Option<Next<T>> {
        if self.in_flight >= self.concurrency || self.lanes.is_empty() {
            return None;
        }
        let n = self.lanes.len();
        let start = self.turn % n;
        let per_endpoint = self.per_endpoint;
        let found = self
            .lanes
            .values_mut()
            .enumerate()
            .map(|(i, lane)| ((i + n - start) % n, i, lane))
            .filter(|(_, _, lane)| lane.in_flight < per_endpoint && !lane.waiting.is_empty())
            .min_by_key(|(order, _, _)| *order)
            .map(|(_, i, lane)| (i, lane));
        let (i, lane) = found?;
        let (item, since) = lane.waiting.pop_front()?;
        self.waiting -= 1;
        self.turn = i + 1;
        if now.duration_since(since) > max_wait {
            return Some(Next::Stale(item));
        }
        lane.in_flight += 1;
        self.in_flight += 1;
        Some(Next::Send(item))
    }

    /// A request to `endpoint` ended.
    pub fn finished(&mut self, endpoint: &str) {
        if let Some(lane) = self.lanes.get_mut(endpoint) {
            lane.in_flight = lane.in_flight.saturating_sub(1);
            self.in_flight = self.in_flight.saturating_sub(1);
        }
    }

    /// Requests in flight, in all.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Requests in flight to `endpoint`.
    pub fn in_flight_to(&self, endpoint: &str) -> usize {
        self.lanes.get(endpoint).map_or(0, |l| l.in_flight)
    }

    /// Claimed deliveries waiting for a request, in all.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// The lanes from the one whose turn it is.
    fn in_turn(&self) -> impl Iterator<Item = (&String, &Lane<T>)> {
        let n = self.lanes.len().max(1);
        let start = self.turn % n;
        self.lanes
            .iter()
            .skip(start)
            .chain(self.lanes.iter().take(start))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    fn sent(lanes: &mut Lanes<u32>, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some(n) = lanes.next(now, LONG) {
            match n {
                Next::Send(d) => out.push(d),
                Next::Stale(d) => panic!("{d} stale"),
            }
        }
        out
    }

    #[test]
    fn one_endpoint_holds_at_most_its_share() {
        let now = Instant::now();
        let mut lanes = Lanes::new(8, 2);
        lanes.keep(["slow", "fast"]);
        let wants = lanes.wants(now, LONG);
        assert_eq!(wants, [("fast".into(), 4), ("slow".into(), 4)]);
        lanes.claimed("slow", vec![1, 2, 3, 4], 4, now);
        lanes.claimed("fast", vec![10, 11, 12, 13], 4, now);
        let first = sent(&mut lanes, now);
        assert_eq!(first.len(), 4, "two per endpoint: {first:?}");
        assert_eq!(lanes.in_flight_to("slow"), 2);
        // The fast endpoint's requests end; the slow ones hang.
        lanes.finished("fast");
        lanes.finished("fast");
        assert_eq!(sent(&mut lanes, now), [12, 13]);
        assert_eq!(lanes.in_flight_to("slow"), 2);
        // Its waiting half is empty: it asks for more, the slow one not.
        let wants = lanes.wants(now, LONG);
        assert_eq!(wants, [("fast".into(), 2)]);
    }

    #[test]
    fn with_a_wait_budget_a_fast_lane_claims_deep_batches_and_a_slow_one_small() {
        let now = Instant::now();
        let mut lanes: Lanes<u32> = Lanes::new(16, 8).wait_budget(Duration::from_secs(20));
        lanes.keep(["fast", "slow", "new"]);
        // 2 ms requests: 20 s / 4 / 2 ms = 2,500 rounds of 8, capped.
        lanes.timed("fast", Duration::from_millis(2));
        // 10 s requests: half a round fits in the budget's quarter.
        lanes.timed("slow", Duration::from_secs(10));
        let wants = lanes.wants(now, LONG);
        assert_eq!(
            wants,
            [
                ("fast".into(), MAX_DEPTH as u32),
                ("new".into(), 16),
                ("slow".into(), 16)
            ]
        );
        // The average follows: the fast endpoint slowed to 1 s a request.
        for _ in 0..40 {
            lanes.timed("fast", Duration::from_secs(1));
        }
        let fast = lanes.lanes.get("fast").unwrap();
        assert_eq!(lanes.depth(fast), 8 * 5);
    }

    #[test]
    fn the_pool_bounds_every_lane_together() {
        let now = Instant::now();
        let mut lanes = Lanes::new(3, 8);
        lanes.keep(["a", "b"]);
        // At most 2 × 3 held: the first lane asks for all of it.
        let wants = lanes.wants(now, LONG);
        assert_eq!(wants, [("a".into(), 6)]);
        lanes.claimed("a", (0..6).collect(), 6, now);
        lanes.claimed("b", vec![100], 1, now);
        // Lanes take turns: b's delivery goes second, not after a's six.
        assert_eq!(sent(&mut lanes, now), [0, 100, 1]);
        assert_eq!(lanes.in_flight(), 3);
        assert!(lanes.next(now, LONG).is_none(), "the pool is full");
        lanes.finished("a");
        assert_eq!(lanes.next(now, LONG), Some(Next::Send(2)));
    }

    #[test]
    fn a_dry_lane_asks_again_after_the_poll_and_stale_ones_are_handed_back() {
        let now = Instant::now();
        let mut lanes = Lanes::new(4, 4);
        lanes.keep(["a"]);
        lanes.claimed("a", vec![1], 8, now);
        assert!(lanes.wants(now, Duration::from_secs(1)).is_empty());
        let later = now + Duration::from_secs(2);
        assert_eq!(lanes.wants(later, Duration::from_secs(1)).len(), 1);
        lanes.wake();
        assert_eq!(lanes.wants(now, Duration::from_secs(1)).len(), 1);
        assert_eq!(
            lanes.next(later, Duration::from_secs(1)),
            Some(Next::Stale(1))
        );
        assert_eq!((lanes.in_flight(), lanes.waiting()), (0, 0));
    }

    #[test]
    fn a_removed_endpoint_drops_its_waiting_deliveries() {
        let now = Instant::now();
        let mut lanes = Lanes::new(4, 1);
        lanes.keep(["a"]);
        lanes.claimed("a", vec![1, 2], 2, now);
        assert_eq!(sent(&mut lanes, now), [1]);
        lanes.keep(["b"]);
        assert_eq!(lanes.waiting(), 0);
        assert_eq!(lanes.in_flight_to("a"), 1, "kept until its request ends");
        lanes.finished("a");
        assert_eq!(lanes.in_flight(), 0);
        lanes.keep(["b"]);
        assert_eq!(lanes.wants(now, LONG), [("b".into(), 2)]);
    }
}
