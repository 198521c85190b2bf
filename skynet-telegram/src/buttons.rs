//! Approve / Deny buttons. A button's callback data names the job and a
//! prefix of the plan hash it was shown with, so pressing it checks both:
//! a button under a plan that has since changed refuses.

use skynet_core::JobId;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

/// Hash digits a button carries: more than the 12 an approval needs, and
/// the data stays under Telegram's 64 bytes (`a:` + 36 + `:` + 16 = 55).
pub const BUTTON_HASH_DIGITS: usize = 16;

/// What a button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Approve the plan.
    Approve,
    /// Deny it.
    Deny,
}

/// A pressed button, read back from its callback data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Press {
    /// Approve or deny.
    pub choice: Choice,
    /// The job.
    pub job: JobId,
    /// The prefix of the plan hash the button was shown with.
    pub hash: String,
}

impl Press {
    /// Callback data for `choice` on `job`'s plan `hash`.
    pub fn data(choice: Choice, job: &JobId, hash: &str) -> String {
        let tag = match choice {
            Choice::Approve => "a",
            Choice::Deny => "d",
        };
        let prefix = hash.get(..BUTTON_HASH_DIGITS).unwrap_or(hash);
        format!("{tag}:{job}:{prefix}")
    }

    /// Read callback data (`None` for data this bot never makes).
    pub fn parse(data: &str) -> Option<Press> {
        let mut parts = data.splitn(3, ':');
        let choice = match parts.next()? {
            "a" => Choice::Approve,
            "d" => Choice::Deny,
            _ => return None,
        };
        let job = JobId::parse(parts.next()?).ok()?;
        let hash = parts.next()?;
        if hash.len() < skynet_core::plan::MIN_HASH_PREFIX
            || !hash.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        Some(Press {
            choice,
            job,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// The two buttons under a plan awaiting approval.
pub fn keyboard(job: &JobId, hash: &str) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback("✅ Approve", Press::data(Choice::Approve, job, hash)),
        InlineKeyboardButton::callback("❌ Deny", Press::data(Choice::Deny, job, hash)),
    ]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trips_and_fits_telegrams_limit() {
        let job = JobId::new();
        let hash = "0123456789abcdef0123456789abcdef";
        for choice in [Choice::Approve, Choice::Deny] {
            let data = Press::data(choice, &job, hash);
            assert!(data.len() <= 64, "{}", data.len());
            let press = Press::parse(&data).expect("parses");
            assert_eq!(press.choice, choice);
            assert_eq!(press.job, job);
            assert_eq!(press.hash, &hash[..BUTTON_HASH_DIGITS]);
        }
    }

    #[test]
    fn foreign_or_short_data_is_ignored() {
        let job = JobId::new();
        for bad in [
            "x:1:2".to_string(),
            format!("a:{job}:0123"),
            format!("a:{job}:zzzzzzzzzzzzzzzz"),
            "a:not-a-job:0123456789abcdef".into(),
            String::new(),
        ] {
            assert_eq!(Press::parse(&bad), None, "{bad}");
        }
    }
}
