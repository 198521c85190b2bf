//! Bad answers and bad servers: each ends in a clear planning error or a
//! correct retry, never a panic and never a plan with a hidden step.

use crate::support::*;
use skynet_core::llm::ProviderKind;
use skynet_core::{Plan, Planner, Result};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Plan with an OpenAI planner at a server answering every POST with
/// `answer`: the planning error's message, and the server.
async fn openai_refusal(answer: ResponseTemplate) -> (String, MockServer) {
    let server = serving(answer).await;
    let m = planning_error(plan_x(&*planner(ProviderKind::OpenAi, &server)).await);
    (m, server)
}

/// A server that answers its first POST with `first`, then every POST
/// with the multi-step OpenAI plan.
async fn failing_once(first: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ok(fixture("openai", "plan_multi_step.json")))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

/// Plan against an OpenAI-compatible server that answers with `fixture`.
async fn plan_answering(name: &str) -> (Result<Plan>, MockServer) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ok(fixture("openai", name)))
        .mount(&server)
        .await;
    let (_dir, root) = sandbox();
    let result = planner(ProviderKind::OpenAi, &server)
        .plan(&request("do the thing", &root))
        .await;
    (result, server)
}

#[tokio::test]
async fn truncated_json_is_a_planning_error_that_says_it_was_cut_off() {
    let (r, _s) = plan_answering("truncated.json").await;
    let m = planning_error(r);
    assert!(
        m.contains("not a JSON plan") && m.contains("cut off"),
        "{m}"
    );
}

#[tokio::test]
async fn wrong_schema_is_a_planning_error() {
    let (r, _s) = plan_answering("wrong_schema.json").await;
    let m = planning_error(r);
    assert!(
        m.contains("does not follow the plan schema") && m.contains("steps"),
        "{m}"
    );
}

#[tokio::test]
async fn fenced_json_with_prose_around_it_is_understood() {
    let (r, _s) = plan_answering("fenced_with_prose.json").await;
    let plan = r.expect("fenced plan parses");
    let kinds: Vec<&str> = plan.steps.iter().map(|s| s.action.name()).collect();
    assert_eq!(kinds, ["git_status", "git_log"]);
    assert_eq!(
        plan.steps[1].command.argv,
        ["git", "log", "--oneline", "-n", "5"]
    );
    assert_eq!(plan.summary, "Show status and recent commits");
}

#[tokio::test]
async fn unknown_action_names_the_step() {
    let (r, _s) = plan_answering("unknown_action.json").await;
    let m = planning_error(r);
    assert!(m.contains("step 2 (\"Format the disk\")"), "{m}");
    assert!(m.contains("unknown action \"format_disk\""), "{m}");
}

#[tokio::test]
async fn argv_as_one_string_is_refused_not_split() {
    let (r, _s) = plan_answering("argv_string.json").await;
    let m = planning_error(r);
    assert!(
        m.contains("step 1") && m.contains("argv is one string"),
        "{m}"
    );
}

#[tokio::test]
async fn empty_steps_is_a_planning_error_with_the_models_reason() {
    let (r, _s) = plan_answering("empty_steps.json").await;
    let m = planning_error(r);
    assert!(m.contains("no steps") && m.contains("pizza"), "{m}");
}

#[tokio::test]
async fn a_path_outside_the_root_names_the_step() {
    let (r, _s) = plan_answering("path_outside_root.json").await;
    let m = planning_error(r);
    assert!(
        m.contains("step 2 (\"Read passwd\")") && m.contains("outside the sandbox root"),
        "{m}"
    );
}

#[tokio::test]
async fn a_50_mb_body_hits_the_size_cap() {
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(50 * 1024 * 1024));
    let (m, server) = openai_refusal(ok(huge)).await;
    assert!(m.contains("larger than the 4194304-byte cap"), "{m}");
    assert_eq!(hits(&server).await, 1, "a too-large answer is not retried");
}

#[tokio::test]
async fn a_stalled_response_times_out_without_retrying() {
    let started = Instant::now();
    let (m, server) = openai_refusal(
        ok(fixture("openai", "plan_multi_step.json")).set_delay(Duration::from_secs(10)),
    )
    .await;
    assert!(m.contains("timed out"), "{m}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "gave up at the timeout"
    );
    assert_eq!(hits(&server).await, 1);
}

#[tokio::test]
async fn http_429_waits_for_retry_after_then_succeeds() {
    let server = failing_once(
        fixture_answer(429, "openai", "error_429.json").insert_header("retry-after", "1"),
    )
    .await;
    let started = Instant::now();
    let plan = plan_x(&*planner(ProviderKind::OpenAi, &server))
        .await
        .expect("second attempt succeeds");
    assert_eq!(plan.steps.len(), 4);
    assert_eq!(hits(&server).await, 2);
    // The backoff alone is ~20 ms; only Retry-After makes it a second.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
}

#[tokio::test]
async fn http_429_asking_for_longer_than_the_cap_gives_up_at_once() {
    let (m, server) =
        openai_refusal(ResponseTemplate::new(429).insert_header("retry-after", "3600")).await;
    assert!(
        m.contains("HTTP 429") && m.contains("asks to wait 3600s"),
        "{m}"
    );
    assert_eq!(hits(&server).await, 1);
}

#[tokio::test]
async fn http_500_then_success_is_retried() {
    let server = failing_once(fixture_answer(500, "openai", "error_500.json")).await;
    let plan = plan_x(&*planner(ProviderKind::OpenAi, &server))
        .await
        .expect("retried");
    assert_eq!(plan.steps.len(), 4);
    assert_eq!(hits(&server).await, 2);
}

#[tokio::test]
async fn persistent_503_gives_up_after_the_retry_limit() {
    let server = serving(ResponseTemplate::new(503)).await;
    let m = planning_error(plan_x(&*planner(ProviderKind::Anthropic, &server)).await);
    assert!(
        m.contains("HTTP 503") && m.contains("gave up after 3 attempts"),
        "{m}"
    );
    assert_eq!(hits(&server).await, 3);
}

#[tokio::test]
async fn http_401_is_not_retried_and_hides_the_key_the_server_echoed() {
    for (provider, vendor, status) in [
        (ProviderKind::OpenAi, "openai", 401),
        (ProviderKind::Anthropic, "anthropic", 401),
        (ProviderKind::Gemini, "gemini", 400),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(endpoint(provider)))
            .respond_with(fixture_answer(status, vendor, "error_401.json"))
            .mount(&server)
            .await;
        let m = planning_error(plan_x(&*planner(provider, &server)).await);
        assert!(
            m.starts_with(vendor) && m.contains(&format!("HTTP {status}")),
            "{m}"
        );
        assert!(!m.contains(FAKE_KEY), "key leaked: {m}");
        assert_eq!(hits(&server).await, 1, "{vendor}: a 4xx is final");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_retried_then_reported() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut s = skynet_core::llm::LlmSettings::new(ProviderKind::OpenAi)
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .api_key(FAKE_KEY);
    s.http = fast_http();
    let p = skynet_core::planner::LlmPlanner::from_settings(&s, None).expect("planner");
    let m = planning_error(plan_x(&p).await);
    assert!(
        m.contains("cannot reach") && m.contains("gave up after 3 attempts"),
        "{m}"
    );
}

#[tokio::test]
async fn the_daily_token_budget_refuses_before_calling_the_model() {
    let server = serving(ok(fixture("openai", "plan_multi_step.json"))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = settings(ProviderKind::OpenAi, &server);
    s.daily_token_budget = Some(500);
    let p =
        skynet_core::planner::LlmPlanner::from_settings(&s, Some(dir.path().join("usage.json")))
            .expect("planner");
    let (_d, root) = sandbox();
    p.plan(&request("x", &root))
        .await
        .expect("first plan within budget");
    let m = planning_error(p.plan(&request("x", &root)).await);
    assert!(
        m.contains("daily LLM token budget is spent") && m.contains("907 of 500"),
        "{m}"
    );
    assert_eq!(
        hits(&server).await,
        1,
        "the refused plan never called the model"
    );
}

/// A bare HTTP/1.1 server for what wiremock cannot do: a chunked body
/// with no length, or headers then silence. It answers one connection.
async fn raw_server(behaviour: RawBody) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        // Read the request head and body (small); the answer does not
        // depend on it.
        let mut buf = vec![0u8; 64 * 1024];
        let _ = sock.read(&mut buf).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        if sock.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        match behaviour {
            RawBody::Endless => {
                let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
                // Bounded: 50 MB at most, stops when the client hangs up.
                for _ in 0..800 {
                    if sock.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
            RawBody::StallMidBody => {
                let part = "{\"choices\": [";
                let _ = sock
                    .write_all(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes())
                    .await;
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        }
    });
    format!("http://{addr}/v1")
}

enum RawBody {
    Endless,
    StallMidBody,
}

fn raw_planner(base: String) -> skynet_core::planner::LlmPlanner {
    let mut s = skynet_core::llm::LlmSettings::new(ProviderKind::OpenAi)
        .base_url(base)
        .api_key(FAKE_KEY);
    s.http = fast_http();
    skynet_core::planner::LlmPlanner::from_settings(&s, None).expect("planner")
}

#[tokio::test]
async fn a_chunked_body_without_length_is_cut_at_the_cap() {
    let base = raw_server(RawBody::Endless).await;
    let m = planning_error(plan_x(&raw_planner(base)).await);
    assert!(m.contains("larger than the 4194304-byte cap"), "{m}");
}

#[tokio::test]
async fn a_body_that_stalls_halfway_times_out() {
    let base = raw_server(RawBody::StallMidBody).await;
    let started = Instant::now();
    let m = planning_error(plan_x(&raw_planner(base)).await);
    assert!(m.contains("timed out"), "{m}");
    assert!(started.elapsed() < Duration::from_secs(8));
}
