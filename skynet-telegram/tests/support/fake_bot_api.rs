//! A local stand-in for Telegram's Bot API: an axum server speaking the
//! documented JSON of getUpdates (long polling with `offset` and
//! `timeout`), sendMessage, editMessageText, answerCallbackQuery,
//! sendDocument (multipart), setWebhook and getMe. Like Telegram, it
//! refuses HTML that does not parse (`can't parse entities`) and texts over
//! 4,096 characters, and it can answer a method with 429 `retry_after`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The bot's token in the tests.
pub const TOKEN: &str = "123456:TEST-token-not-a-secret";

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    pub raw: Vec<u8>,
    pub at: Instant,
    /// The HTTP status answered.
    pub status: u16,
}

/// A message as the server holds it (edits replace text and buttons).
#[derive(Debug, Clone)]
pub struct Sent {
    pub chat: i64,
    pub id: i64,
    pub text: String,
    pub markup: Option<Value>,
    pub edits: u32,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Value>,
    next_update: i64,
    next_message: i64,
    calls: Vec<Call>,
    messages: Vec<Sent>,
    /// Methods to answer once with 429 and this retry_after.
    throttle: HashMap<String, u32>,
    /// Offsets getUpdates was called with.
    offsets: Vec<i64>,
    /// Update ids delivered, in order (repeats included).
    delivered: Vec<i64>,
}

/// The fake server.
#[derive(Clone)]
pub struct FakeBotApi {
    inner: Arc<Mutex<Inner>>,
    wake: Arc<Notify>,
    /// Base URL (`TELEGRAM_API_URL`).
    pub url: String,
}

impl FakeBotApi {
    /// Start on a free local port.
    pub async fn start() -> Self {
        let fake = FakeBotApi {
            inner: Arc::new(Mutex::new(Inner {
                next_update: 1,
                next_message: 1,
                ..Inner::default()
            })),
            wake: Arc::new(Notify::new()),
            url: String::new(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeBotApi { url, ..fake }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake state")
    }

    /// Queue an update (its `update_id` is assigned here); returns the id.
    pub fn push(&self, mut update: Value) -> i64 {
        let id = {
            let mut s = self.lock();
            let id = s.next_update;
            s.next_update += 1;
            update["update_id"] = json!(id);
            s.queue.push_back(update);
            id
        };
        self.wake.notify_waiters();
        id
    }

    /// Answer the next call of `method` with 429 and `retry_after`.
    pub fn throttle_once(&self, method: &str, retry_after: u32) {
        self.lock().throttle.insert(method.into(), retry_after);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Calls of one method.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Messages in `chat`, oldest first.
    pub fn messages(&self, chat: i64) -> Vec<Sent> {
        self.lock()
            .messages
            .iter()
            .filter(|m| m.chat == chat)
            .cloned()
            .collect()
    }

    /// Offsets getUpdates was asked for.
    pub fn offsets(&self) -> Vec<i64> {
        self.lock().offsets.clone()
    }

    /// Update ids delivered, repeats included.
    pub fn delivered(&self) -> Vec<i64> {
        self.lock().delivered.clone()
    }

    /// Wait (up to 30 s) until `what` holds of the server's state.
    pub async fn until<T>(&self, label: &str, what: impl Fn(&FakeBotApi) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = what(self) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for: {label}\ncalls: {:#?}",
                self.calls()
                    .iter()
                    .map(|c| (&c.method, c.status, &c.body))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn ok(result: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"ok": true, "result": result})),
    )
        .into_response()
}

fn bad(code: u16, description: String, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (
        StatusCode::from_u16(code).expect("status"),
        axum::Json(body),
    )
        .into_response()
}

/// The Bot API's Message object.
fn message_json(chat: i64, id: i64, text: &str, markup: Option<&Value>) -> Value {
    let mut m = json!({
        "message_id": id,
        "date": 1_765_000_000,
        "chat": {"id": chat, "type": "private", "first_name": "Tester"},
        "from": {"id": 42, "is_bot": true, "first_name": "SKYNET", "username": "skynet_test_bot"},
        "text": text,
    });
    if let Some(k) = markup {
        m["reply_markup"] = k.clone();
    }
    m
}

/// The fields of a multipart body (name → value; files by their file name).
fn multipart_fields(raw: &[u8]) -> Value {
    let text = String::from_utf8_lossy(raw);
    let mut fields = serde_json::Map::new();
    for part in text.split("Content-Disposition: form-data; ").skip(1) {
        let Some(name) = part
            .strip_prefix("name=\"")
            .and_then(|p| p.split('"').next())
        else {
            continue;
        };
        let file = part
            .split("filename=\"")
            .nth(1)
            .and_then(|f| f.split('"').next());
        let value = part
            .split_once("\r\n\r\n")
            .map(|(_, v)| v.rsplit_once("\r\n--").map_or(v, |(v, _)| v))
            .unwrap_or("");
        fields.insert(name.to_string(), json!(value));
        if let Some(f) = file {
            fields.insert(format!("{name}_filename"), json!(f));
        }
    }
    // `attach://<name>`: the file is the part called <name> (the Bot API's
    // documented way to send a file by multipart upload).
    let attached: Vec<(String, String)> = fields
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.clone(),
                v.as_str()?.strip_prefix("attach://")?.to_string(),
            ))
        })
        .collect();
    for (field, part) in attached {
        if let Some(name) = fields.get(&format!("{part}_filename")).cloned() {
            fields.insert(format!("{field}_filename"), name);
        }
        if let Some(content) = fields.get(&part).cloned() {
            fields.insert(format!("{field}_content"), content);
        }
    }
    Value::Object(fields)
}

async fn handle(
    State(fake): State<FakeBotApi>,
    Path((bot, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Method names are case-insensitive (teloxide sends `SendMessage`).
    let mut chars = method.chars();
    let method: String = chars
        .next()
        .map(|c| c.to_ascii_lowercase())
        .into_iter()
        .chain(chars)
        .collect();
    if bot != format!("bot{TOKEN}") {
        return bad(401, "Unauthorized".into(), None);
    }
    let multipart = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    let parsed = if multipart {
        multipart_fields(&body)
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let response = answer(&fake, &method, &parsed).await;
    fake.lock().calls.push(Call {
        method,
        body: parsed,
        raw: body.to_vec(),
        at: Instant::now(),
        status: response.status().as_u16(),
    });
    response
}

async fn answer(fake: &FakeBotApi, method: &str, body: &Value) -> Response {
    if let Some(after) = fake.lock().throttle.remove(method) {
        return bad(
            429,
            format!("Too Many Requests: retry after {after}"),
            Some(json!({"retry_after": after})),
        );
    }
    match method {
        "getMe" => ok(
            json!({"id": 42, "is_bot": true, "first_name": "SKYNET", "username": "skynet_test_bot"}),
        ),
        "getUpdates" => get_updates(fake, body).await,
        "sendMessage" => {
            let chat = body["chat_id"].as_i64().unwrap_or_default();
            let text = body["text"].as_str().unwrap_or_default();
            if let Err(why) = check_html(text) {
                return bad(400, format!("Bad Request: {why}"), None);
            }
            let mut s = fake.lock();
            let id = s.next_message;
            s.next_message += 1;
            let markup = body.get("reply_markup").cloned();
            s.messages.push(Sent {
                chat,
                id,
                text: text.to_string(),
                markup: markup.clone(),
                edits: 0,
            });
            ok(message_json(chat, id, text, markup.as_ref()))
        }
        "editMessageText" => {
            let chat = body["chat_id"].as_i64().unwrap_or_default();
            let id = body["message_id"].as_i64().unwrap_or_default();
            let text = body["text"].as_str().unwrap_or_default();
            if let Err(why) = check_html(text) {
                return bad(400, format!("Bad Request: {why}"), None);
            }
            let mut s = fake.lock();
            let Some(m) = s.messages.iter_mut().find(|m| m.chat == chat && m.id == id) else {
                return bad(400, "Bad Request: message to edit not found".into(), None);
            };
            let markup = body.get("reply_markup").cloned();
            if m.text == text && m.markup == markup {
                return bad(
                    400,
                    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message".into(),
                    None,
                );
            }
            m.text = text.to_string();
            m.markup = markup.clone();
            m.edits += 1;
            ok(message_json(chat, id, text, markup.as_ref()))
        }
        "answerCallbackQuery" => ok(json!(true)),
        "setWebhook" | "deleteWebhook" => ok(json!(true)),
        "sendDocument" => {
            let chat = body["chat_id"]
                .as_str()
                .and_then(|c| c.parse().ok())
                .or_else(|| body["chat_id"].as_i64())
                .unwrap_or_default();
            let mut s = fake.lock();
            let id = s.next_message;
            s.next_message += 1;
            let mut m = message_json(chat, id, "", None);
            m.as_object_mut().expect("object").remove("text");
            m["document"] = json!({"file_id": format!("doc{id}"), "file_unique_id": format!("u{id}"), "file_name": body["document_filename"]});
            ok(m)
        }
        other => bad(404, format!("Not Found: method {other}"), None),
    }
}

async fn get_updates(fake: &FakeBotApi, body: &Value) -> Response {
    let offset = body["offset"].as_i64().unwrap_or(0);
    let timeout = body["timeout"].as_u64().unwrap_or(0).min(5);
    fake.lock().offsets.push(offset);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = fake.wake.notified();
        {
            let mut s = fake.lock();
            // An offset confirms every update before it.
            s.queue
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            if !s.queue.is_empty() {
                let updates: Vec<Value> = s.queue.iter().cloned().collect();
                let ids: Vec<i64> = updates
                    .iter()
                    .map(|u| u["update_id"].as_i64().unwrap_or(0))
                    .collect();
                s.delivered.extend(ids);
                return ok(Value::Array(updates));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return ok(json!([]));
        }
    }
}

/// Telegram's HTML parse mode: only its tags, closed in order; `&` only in
/// entities; 1 to 4,096 characters of text once parsed.
pub fn check_html(text: &str) -> Result<(), String> {
    const TAGS: [&str; 14] = [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "code",
        "pre",
        "a",
        "tg-spoiler",
        "blockquote",
    ];
    let mut stack: Vec<String> = Vec::new();
    let mut units = 0usize;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest
                    .find('>')
                    .ok_or("can't parse entities: unclosed start tag")?;
                let tag = &rest[1..end];
                if let Some(name) = tag.strip_prefix('/') {
                    if stack.pop().as_deref() != Some(name) {
                        return Err(format!("can't parse entities: unmatched end tag {name}"));
                    }
                } else {
                    let name = tag.split_whitespace().next().unwrap_or("");
                    if !TAGS.contains(&name) {
                        return Err(format!(
                            "can't parse entities: unsupported start tag \"{name}\""
                        ));
                    }
                    stack.push(name.to_string());
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest
                    .find(';')
                    .filter(|e| *e <= 10)
                    .ok_or("can't parse entities: a bare &")?;
                let name = &rest[1..end];
                let known = matches!(name, "lt" | "gt" | "amp" | "quot")
                    || name
                        .strip_prefix('#')
                        .is_some_and(|n| n.parse::<u32>().is_ok());
                if !known {
                    return Err(format!("can't parse entities: unknown entity &{name};"));
                }
                units += 1;
                rest = &rest[end + 1..];
            }
            '>' => return Err("can't parse entities: a bare >".into()),
            c => {
                units += c.len_utf16();
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "can't parse entities: can't find end tag corresponding to start tag \"{open}\""
        ));
    }
    if units == 0 {
        return Err("message text is empty".into());
    }
    if units > 4096 {
        return Err("message is too long".into());
    }
    Ok(())
}

/// A user's text message (a bot command gets its entity, as Telegram sends it).
pub fn text_update(user: i64, text: &str) -> Value {
    let mut message = json!({
        "message_id": 1,
        "date": 1_765_000_000,
        "chat": {"id": user, "type": "private", "first_name": "User"},
        "from": {"id": user, "is_bot": false, "first_name": "User"},
        "text": text,
    });
    if text.starts_with('/') {
        let len = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .encode_utf16()
            .count();
        message["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
    }
    json!({"message": message})
}

/// A user pressing a button with `data` under message `message` in `chat`.
pub fn press_update(user: i64, chat: i64, message: i64, data: &str, query: &str) -> Value {
    json!({"callback_query": {
        "id": query,
        "from": {"id": user, "is_bot": false, "first_name": "User"},
        "chat_instance": "ci",
        "data": data,
        "message": message_json(chat, message, "plan", None),
    }})
}
