//! READ_ONLY plans are auto-approved only on a provider that confines
//! them: a local provider whose sandbox cannot be applied leaves them
//! waiting for a human (failing closed includes the sandbox's absence).

use async_trait::async_trait;
use skynet_core::provider::mock::MockProvider;
use skynet_core::provider::{Capabilities, ExecContext, Health, Output, Provider};
use skynet_core::{Command, JobStatus, Skynet, SubmitRequest};
use std::sync::Arc;

/// The mock provider, claiming it cannot confine anything (a local
/// provider in `auto` mode on a machine without bubblewrap or Landlock).
struct Unconfined(MockProvider);

#[async_trait]
impl Provider for Unconfined {
    fn name(&self) -> &str {
        "unconfined"
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn health(&self) -> Health {
        self.0.health().await
    }
    async fn confines_read_only(&self) -> bool {
        false
    }
    async fn execute(&self, command: &Command, ctx: ExecContext) -> skynet_core::Result<Output> {
        self.0.execute(command, ctx).await
    }
}

async fn engine(default: &str) -> Skynet {
    Skynet::builder()
        .provider(Arc::new(Unconfined(MockProvider::new())))
        .default_provider(default)
        .build()
        .await
        .expect("engine")
}

#[tokio::test]
async fn read_only_plans_wait_for_a_human_where_nothing_confines_them() {
    let dir = tempfile::tempdir().expect("root");
    let sk = engine("unconfined").await;
    let job = sk
        .submit(SubmitRequest::new("list files").root(dir.path()))
        .await
        .expect("submit");
    assert_eq!(job.risk, skynet_core::RiskLevel::ReadOnly);
    assert_eq!(job.status, JobStatus::Planned);
    assert!(job.approval.is_none());

    // The same plan on a provider that confines it is queued at once.
    let sk = engine("mock").await;
    let job = sk
        .submit(SubmitRequest::new("list files").root(dir.path()))
        .await
        .expect("submit");
    assert_eq!(job.status, JobStatus::Queued);
}

/// The dry run agrees with the submit, and the refusal of "run it now"
/// says why: the provider cannot confine the plan.
#[tokio::test]
async fn review_and_the_auto_only_refusal_name_the_unconfined_provider() {
    let dir = tempfile::tempdir().expect("root");
    let sk = engine("unconfined").await;
    let req = SubmitRequest::new("list files").root(dir.path());
    let review = sk.review(&req).await.expect("review");
    assert!(review.requires_approval, "review must agree with submit");
    assert!(
        review
            .gates
            .iter()
            .any(|g| g.reason.contains("cannot confine")),
        "{:?}",
        review.gates
    );
    let e = sk
        .start(&req, &skynet_core::Gate::AutoOnly)
        .await
        .expect_err("needs a human");
    let gate = e.decision().expect("the refusal names a reason");
    assert!(
        gate.explain().contains("`unconfined` cannot confine"),
        "{}",
        gate.explain()
    );
    assert!(
        sk.list(&Default::default()).await.expect("list").is_empty(),
        "nothing stored"
    );

    let sk = engine("mock").await;
    let review = sk.review(&req).await.expect("review");
    assert!(!review.requires_approval);
    assert!(review.gates.is_empty());
}
