//! Webhook mode against the local fake Bot API server: `setWebhook` is
//! called with the secret token, the webhook refuses requests without it,
//! and a redelivered update is acknowledged without being handled twice.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use support::*;
use tower::ServiceExt;

async fn post(app: &axum::Router, secret: Option<&str>, body: String) -> StatusCode {
    let mut req = Request::post(skynet_telegram::webhook::WEBHOOK_PATH)
        .header("content-type", "application/json");
    if let Some(s) = secret {
        req = req.header(skynet_telegram::webhook::SECRET_HEADER, s);
    }
    app.clone()
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("response")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_webhook_checks_the_secret_token_and_handles_each_update_once() {
    let h = Harness::start().await;
    let bot = h.bot();
    let secret = "s3cret_token-1";
    bot.set_webhook("https://bot.example.invalid/telegram/webhook", secret)
        .await
        .expect("setWebhook");
    let set = h.fake.calls_of("setWebhook");
    assert_eq!(set.len(), 1);
    assert_eq!(set[0].body["secret_token"], secret);
    assert_eq!(
        set[0].body["url"],
        "https://bot.example.invalid/telegram/webhook"
    );
    assert!(
        bot.set_webhook("https://x.invalid/", "bad secret!")
            .await
            .is_err()
    );

    let app = skynet_telegram::webhook::router(bot, secret.to_string());
    let mut update = text_update(ADMIN, "/help");
    update["update_id"] = serde_json::json!(500);
    let body = update.to_string();
    assert_eq!(
        post(&app, None, body.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&app, Some("wrong"), body.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        h.fake.messages(ADMIN).is_empty(),
        "refused requests do nothing"
    );
    assert_eq!(
        post(&app, Some(secret), "{".into()).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(post(&app, Some(secret), body.clone()).await, StatusCode::OK);
    assert_eq!(
        post(&app, Some(secret), body).await,
        StatusCode::OK,
        "a redelivery is acknowledged"
    );
    h.message_with(ADMIN, "/task").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(h.fake.messages(ADMIN).len(), 1, "handled once");
}
