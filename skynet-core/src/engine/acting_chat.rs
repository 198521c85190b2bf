//! Conversation and job lookup for one caller ([`Acting`]): the chat
//! front-ends (Telegram) hold the same ownership rules as HTTP.

use super::Acting;
use crate::chat::{ChatReply, ChatSession};
use crate::job::{Job, JobId};
use crate::store::JobFilter;
use crate::store::keys::Scope;
use crate::{Error, Result};

/// The shortest job id prefix accepted (ids are UUIDv7: the first digits
/// are a timestamp, so shorter prefixes are rarely unique).
pub const MIN_JOB_PREFIX: usize = 4;

/// How many of the caller's most recent jobs a prefix is matched against.
const PREFIX_SCAN: u32 = 1000;

impl Acting<'_> {
    /// [`Skynet::chat`](crate::Skynet::chat) for the caller: work the
    /// conversation proposes is the caller's job, judged and gated like any
    /// submission. Needs `submit` (a conversation may propose work).
    pub async fn chat(&self, session: &mut ChatSession, message: &str) -> Result<ChatReply> {
        if !self.grant().allows(Scope::Submit) {
            return Err(Error::NotPermitted(
                "chatting may propose work, which needs the `submit` scope (the approver or \
                 admin role); ask an admin to give you one"
                    .into(),
            ));
        }
        session.request.principal = self.grant().principal.clone();
        session.request.dry_run = false;
        self.sk.chat(session, message).await
    }

    /// The visible job whose id is `id` or starts with it (at least
    /// [`MIN_JOB_PREFIX`] characters): [`Error::JobNotFound`] when none of
    /// the caller's jobs matches, [`Error::InvalidInput`] when several do.
    pub async fn resolve(&self, id: &str) -> Result<Job> {
        let id = id.trim().to_ascii_lowercase();
        if let Ok(full) = JobId::parse(&id) {
            return self.get(&full).await;
        }
        if id.len() < MIN_JOB_PREFIX || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(Error::InvalidInput(format!(
                "{id:?} is not a job id: give the id or at least its first {MIN_JOB_PREFIX} \
                 characters"
            )));
        }
        let filter = JobFilter {
            limit: Some(PREFIX_SCAN),
            ..JobFilter::default()
        };
        let mut found = self
            .list(&filter)
            .await?
            .into_iter()
            .filter(|j| j.id.as_str().starts_with(&id));
        match (found.next(), found.next()) {
            (Some(job), None) => Ok(job),
            (None, _) => Err(Error::JobNotFound(id)),
            (Some(_), Some(_)) => Err(Error::InvalidInput(format!(
                "several jobs start with {id:?}: give more characters of the id"
            ))),
        }
    }
}
