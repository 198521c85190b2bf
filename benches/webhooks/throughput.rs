//! Webhook delivery throughput: events of the global log delivered to a
//! loopback receiver by the real delivery loop (`Skynet::run_webhooks`,
//! as `serve` and `worker` run it): enqueued from the log, signed, POSTed
//! over keep-alive connections pinned to the checked address, every
//! attempt recorded.
//!
//! `cargo run --release -p skynet-benches --bin webhook-throughput [-- EVENTS CONCURRENCY [DATABASE_URL]]`
//! (default: 5,000 events, 32 requests at once, all of them allowed to
//! the one endpoint, a fresh SQLite file).
//! The events are recorded first; the clock runs from starting the loop to
//! the receiver counting the last one (and the ledger showing every
//! delivery delivered).

use skynet_benches::receiver::Receiver;
use skynet_core::events::webhooks::{DeliveryState, NewWebhook, WebhookConfig};
use skynet_core::events::{EventPayload, NewSystemEvent, Notice};
use skynet_core::probe::NetworkAllow;
use skynet_core::{Principal, Skynet, Visibility};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let events: usize = args.first().map_or(5000, |a| a.parse().expect("EVENTS"));
    let concurrency: usize = args.get(1).map_or(32, |a| a.parse().expect("CONCURRENCY"));
    let dir = tempfile::tempdir().expect("temp dir");
    let url = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));

    let receiver = Receiver::in_process().await;
    let addr = receiver.addr;

    let sk = Skynet::builder()
        .database_url(&url)
        .webhooks(WebhookConfig {
            allow: NetworkAllow::parse(&["127.0.0.1"]).expect("allow"),
            concurrency,
            per_endpoint: concurrency,
            poll: Duration::from_millis(10),
            ..WebhookConfig::default()
        })
        .build()
        .await
        .expect("engine");
    sk.add_webhook(
        &Principal::local(),
        NewWebhook {
            url: format!("http://{addr}/hook"),
            types: vec!["optimization.*".into()],
        },
    )
    .await
    .expect("add");
    for n in 0..events {
        sk.record_event(&NewSystemEvent::now(
            "bench",
            EventPayload::OptimizationOpportunity(Notice {
                subject: format!("n{n}"),
                message: "a webhook benchmark event".into(),
            }),
        ))
        .await
        .expect("record");
    }

    let stop = CancellationToken::new();
    let started = Instant::now();
    let looping = {
        let (sk, stop) = (sk.clone(), stop.clone());
        tokio::spawn(async move { sk.run_webhooks(stop).await })
    };
    while receiver.received().await < events {
        assert!(started.elapsed() < Duration::from_secs(600), "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = started.elapsed();
    loop {
        let delivered = sk
            .webhook_deliveries(None, Some(DeliveryState::Delivered), &Visibility::All, 1000)
            .await
            .expect("deliveries")
            .len();
        let pending = sk
            .webhook_deliveries(None, Some(DeliveryState::Pending), &Visibility::All, 1)
            .await
            .expect("deliveries")
            .len();
        if pending == 0 && delivered > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let recorded = started.elapsed();
    stop.cancel();
    looping.await.expect("loop");
    println!(
        "{events} events, concurrency {concurrency}, {}: received all in {:.2} s \
         ({:.0} deliveries/s); all recorded delivered in {:.2} s ({:.0}/s); {} requests",
        if url.starts_with("sqlite") {
            "sqlite"
        } else {
            "postgres"
        },
        sent.as_secs_f64(),
        events as f64 / sent.as_secs_f64(),
        recorded.as_secs_f64(),
        events as f64 / recorded.as_secs_f64(),
        receiver.received().await,
    );
}
