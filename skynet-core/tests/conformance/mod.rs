//! The backend-generic store conformance suite.
//!
//! Every case is a `pub async fn` taking a [`SharedStore`] (or a
//! [`Backend`] when it needs a second handle or raw SQL), so the same suite
//! runs against SQLite and PostgreSQL: instantiate it with
//! `conformance_tests!(factory)` where `factory` is an async fn returning a
//! fresh [`Backend`].

pub mod artifacts;
pub mod checkpoints;
pub mod cursors;
pub mod event_log;
pub mod event_log_retention;
pub mod jobs;
pub mod listing;
pub mod memory;
pub mod principals;
pub mod queue;
pub mod records;
pub mod reports;
pub mod retention;
pub mod review;
pub mod schedules;
pub mod stats;
pub mod triggers;
pub mod webhooks;
pub mod workers;

#[path = "../job_support/mod.rs"]
mod job_support;

pub use artifacts::*;
pub use checkpoints::*;
pub use cursors::*;
pub use event_log::*;
pub use event_log_retention::*;
pub use jobs::*;
pub use listing::*;
pub use memory::*;
pub use principals::*;
pub use queue::*;
pub use records::*;
pub use reports::*;
pub use retention::*;
pub use review::*;
pub use schedules::*;
pub use stats::*;
pub use triggers::*;
pub use webhooks::*;
pub use workers::*;

use chrono::Utc;
use futures::future::BoxFuture;
use skynet_core::plan::Plan;
use skynet_core::store::{JobFilter, SharedStore, StepOutcome, StepStatus};
use skynet_core::{Error, Job, JobId, JobStatus, RiskLevel};
use std::any::Any;
use std::time::Duration;

/// A fresh database behind a store, plus what a few cases need besides it.
pub struct Backend {
    /// The store under test.
    pub store: SharedStore,
    /// Open a second, independent handle on the same database (as another
    /// process would).
    pub reopen: Option<Box<dyn Fn() -> BoxFuture<'static, SharedStore> + Send + Sync>>,
    /// Run one SQL statement on the database behind the store's back
    /// (to tamper with the event log).
    pub raw_sql: Option<Box<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>>,
    /// Whatever must outlive the store (a temp dir, a container); held
    /// only to be dropped after it.
    #[allow(dead_code)]
    pub keep: Box<dyn Any + Send + Sync>,
}

impl Backend {
    /// The backend of the store just opened at `url`: a second handle
    /// opens the same URL, raw SQL runs on a fresh connection of type `C`
    /// (`sqlx::SqliteConnection`, `sqlx::PgConnection`), and `keep` is
    /// dropped after the store.
    pub fn at<C>(store: SharedStore, url: String, keep: Box<dyn Any + Send + Sync>) -> Backend
    where
        C: sqlx::Connection,
        for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
        for<'q> <C::Database as sqlx::Database>::Arguments<'q>:
            sqlx::IntoArguments<'q, C::Database>,
    {
        let (reopen_url, raw_url) = (url.clone(), url);
        Backend {
            store,
            reopen: Some(Box::new(move || {
                let url = reopen_url.clone();
                Box::pin(async move { skynet_core::store::connect(&url).await.expect("reopen") })
            })),
            raw_sql: Some(Box::new(move |sql: String| {
                let url = raw_url.clone();
                Box::pin(async move {
                    let mut conn = C::connect(&url).await.expect("raw connection");
                    sqlx::query(&sql).execute(&mut conn).await.expect("raw SQL");
                    conn.close().await.expect("close");
                })
            })),
            keep,
        }
    }
}

/// Expand into one `#[tokio::test]` per conformance case. `$factory` is an
/// async fn (or closure) returning a fresh [`Backend`], or `None` when its
/// service is not configured (it prints that the test skipped). With a list after
/// `;`, only those cases (taking a store) are generated.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@store $factory;
            insert_get_list_filter,
            idempotent_insert_returns_existing,
            insert_refuses_running_and_terminal,
            transition_table_is_enforced_for_every_pair,
            reserved_transitions_are_refused,
            stale_approval_changes_nothing,
            expired_approval_request_is_refused,
            claim_orders_by_priority_then_age,
            future_run_at_is_not_claimable,
            claim_job_claims_only_queued_jobs,
            concurrent_claimers_claim_each_job_once,
            heartbeat_extends_until_cancel,
            complete_is_fenced_after_reaper_requeue,
            retry_requeues_until_attempts_exhausted,
            reaper_requeues_read_only_step,
            reaper_sends_write_step_to_review,
            reaper_finishes_a_job_whose_step_already_failed,
            reaper_requeues_after_succeeded_write_step,
            reaper_dead_letters_exhausted_job,
            reaper_leaves_live_leases_alone,
            cancel_of_running_job_marks_steps,
            steps_are_fenced_by_the_lease,
            logs_append_tail_search_after_step,
            event_chain_verifies,
            unknown_id_is_not_found_everywhere,
            worker_registry_tracks_state,
            released_job_requeues_without_counting_the_attempt,
            interrupted_write_step_goes_to_review,
            concurrent_idempotent_inserts_make_one_job,
            list_jobs_pages_by_cursor,
            count_jobs_by_status_counts,
            oldest_queued_since_finds_the_longest_waiting_due_job,
            events_after_resumes_without_loss,
            provider_stats_count_recent_finished_jobs,
            step_medians_come_from_recent_successful_runs,
            group_commit_fences_each_job_by_its_lease,
            group_commit_of_many_runs_keeps_every_chain,
            group_commit_with_a_missing_step_writes_nothing,
            group_commit_of_one_job_twice_keeps_its_chain,
            every_writer_moves_the_chain_head,
            listing_is_filtered_by_principal,
            idempotency_keys_are_scoped_to_the_principal,
            keys_remember_their_principal,
            memories_round_trip_and_stay_with_their_principal,
            memory_filters_counts_and_accesses,
            memory_full_text_search,
            memory_full_text_ranks_by_words_held_beyond_the_budget,
            memory_full_text_splits_words_as_a_search_does,
            memory_batches_store_all_or_none,
            memory_retention_forgets_evicts_and_keeps_pinned,
            memories_to_embed_page_by_model_and_take_new_vectors,
            step_failures_count_recent_failed_runs,
            step_signatures_are_read_for_many_steps_at_once,
            cursors_only_move_forward,
            review_requeue_needs_a_fresh_approval_of_the_plan,
            review_fail_and_mark_succeeded_record_who_and_why,
            review_refuses_a_job_not_in_review,
            retry_of_round_trips_with_its_first_event,
            reports_are_kept_by_request_id_and_linked_to_jobs,
            a_schedule_tick_fires_once_with_its_job,
            schedules_pause_skip_and_stay_with_their_owner,
            initiative_budgets_and_the_kill_switch_hold_in_the_ledger,
            schedule_and_initiative_events_commit_with_their_job,
            every_lifecycle_transition_emits_exactly_its_events,
            the_global_log_shows_each_principal_only_its_own,
            a_type_filtered_read_pages_past_rows_of_other_types,
            pollers_sharing_the_tail_see_what_a_direct_read_sees,
            consumer_positions_only_move_forward,
            workers_coming_and_going_are_system_events,
            artifacts_are_recorded_under_the_lease_with_their_event,
            artifacts_need_the_lease,
            artifacts_stay_with_their_principal,
            a_trigger_fires_once_per_event_within_its_rate,
            triggers_pause_and_stay_with_their_owner,
            conditions_are_raised_once_until_cleared,
            logs_are_read_by_time_and_stream,
            pruned_jobs_leave_tombstones_and_other_chains_verify,
            pruned_logs_leave_marks_and_chains_verify,
            pruned_artifact_records_leave_marks,
            the_gc_lease_has_one_holder,
            the_event_log_prunes_its_old_prefix_and_leaves_an_anchor,
            a_consumer_behind_a_pruned_prefix_skips_it_and_records_the_gap,
            webhooks_stay_with_their_owner_and_hide_their_secret,
            webhook_deliveries_are_enqueued_once_claimed_once_and_redelivered,
            webhook_deliveries_enqueued_leased_are_not_claimed_until_the_lease_lapses,
            webhook_bodies_not_stored_are_rebuilt_from_the_log,
        );
        $crate::conformance_tests!(@backend $factory;
            concurrent_claimers_on_two_handles,
            tampered_event_data_is_detected,
            removed_last_event_is_detected,
            initiative_budget_holds_across_two_handles,
            a_trigger_rate_limit_holds_across_two_handles,
            webhook_claims_on_two_handles_never_overlap,
        );
    };
    ($factory:expr; $($case:ident),+ $(,)?) => {
        $crate::conformance_tests!(@store $factory; $($case),+);
    };
    (@store $factory:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(backend) = ($factory)().await else { return };
                $crate::conformance::$case(backend.store.clone()).await;
                drop(backend);
            }
        )+
    };
    (@backend $factory:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(backend) = ($factory)().await else { return };
                $crate::conformance::$case(&backend).await;
            }
        )+
    };
}

/// A long lease: never expires during a test.
pub const LONG: Duration = Duration::from_secs(3600);

/// A queued job with one step per entry of `risks` (`echo i`).
pub fn test_job(risks: &[RiskLevel]) -> Job {
    let steps = risks
        .iter()
        .enumerate()
        .map(|(i, risk)| {
            let argv = vec!["echo".to_string(), i.to_string()];
            job_support::command_step(format!("echo {i}"), argv, *risk)
        })
        .collect();
    let plan = Plan::new("test plan", steps, "test");
    job_support::queued_job("run the test steps", plan)
}

/// `test_job` in another initial status.
pub fn job_in(status: JobStatus, risks: &[RiskLevel]) -> Job {
    let job = test_job(risks);
    Job {
        status,
        // Only a queued job is inserted already approved.
        approval: job.approval.clone().filter(|_| status == JobStatus::Queued),
        ..job
    }
}

/// Insert `job`, expecting a new row.
pub async fn insert(store: &SharedStore, job: Job) -> Job {
    let (job, created) = store.insert_job(&job).await.expect("insert_job");
    assert!(created, "a fresh job must be inserted");
    job
}

/// Insert a queued job and claim it under a lease of `lease`.
pub async fn running(store: &SharedStore, risks: &[RiskLevel], lease: Duration) -> (Job, String) {
    let job = insert(store, test_job(risks)).await;
    claimed(store, &job.id, lease).await
}

/// Claim the (queued) job `id`, returning it and its lease id.
pub async fn claimed(store: &SharedStore, id: &JobId, lease: Duration) -> (Job, String) {
    let job = store
        .claim_job(id, "worker-a", lease)
        .await
        .expect("claim_job")
        .expect("the job is claimable");
    assert_eq!(job.status, JobStatus::Running);
    let lease_id = job.lease.clone().expect("a running job has a lease").id;
    (job, lease_id)
}

/// Reap every lease that has expired by now (plus a second).
pub async fn reap_now(store: &SharedStore) -> Vec<skynet_core::store::Reaped> {
    store
        .reap_expired(Utc::now() + chrono::Duration::seconds(1))
        .await
        .expect("reap_expired")
}

/// A finished step's outcome.
pub fn outcome(status: StepStatus) -> StepOutcome {
    StepOutcome {
        status,
        exit_code: Some(if status == StepStatus::Succeeded {
            0
        } else {
            1
        }),
        output_bytes: 42,
        truncated: false,
        error: None,
    }
}

/// Run step `index` of a job to success under its lease.
pub async fn run_step(store: &SharedStore, id: &JobId, lease: &str, index: u32) {
    store
        .start_step(id, lease, index)
        .await
        .expect("start_step");
    store
        .finish_step(id, lease, index, outcome(StepStatus::Succeeded), &[])
        .await
        .expect("finish_step");
}

/// The statuses of the job's step checkpoints.
pub async fn step_statuses(store: &SharedStore, id: &JobId) -> Vec<StepStatus> {
    store
        .steps(id)
        .await
        .expect("steps")
        .into_iter()
        .map(|s| s.status)
        .collect()
}

/// The number of events the job has.
pub async fn event_count(store: &SharedStore, id: &JobId) -> usize {
    store.events(id).await.expect("events").len()
}

/// The number of jobs in the store (every principal's).
pub async fn job_count(store: &SharedStore) -> usize {
    store
        .list_jobs(&JobFilter::default())
        .await
        .expect("list")
        .len()
}

/// Assert `result` is `InvalidTransition { from, to }`.
#[track_caller]
pub fn assert_invalid<T: std::fmt::Debug>(
    result: skynet_core::Result<T>,
    from: JobStatus,
    to: JobStatus,
) {
    match result {
        Err(Error::InvalidTransition { from: f, to: t, .. }) => {
            assert_eq!((f, t), (from, to), "wrong transition reported");
        }
        other => panic!("{from} -> {to}: expected InvalidTransition, got {other:?}"),
    }
}

/// Assert `result` is `LeaseLost`.
#[track_caller]
pub fn assert_lease_lost<T: std::fmt::Debug>(result: skynet_core::Result<T>) {
    assert!(
        matches!(result, Err(Error::LeaseLost(_))),
        "expected LeaseLost, got {result:?}"
    );
}

/// Assert `result` is `JobNotFound`.
#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(result: skynet_core::Result<T>) {
    assert!(
        matches!(result, Err(Error::JobNotFound(_))),
        "expected JobNotFound, got {result:?}"
    );
}
