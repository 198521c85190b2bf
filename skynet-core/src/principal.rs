//! Who owns work and who may see it.
//!
//! Every job (and, later, every memory, event subscription and artifact)
//! belongs to a [`Principal`]: the identity that asked for it. An API key
//! belongs to one principal; the local front-ends (the CLI, Python, a
//! program embedding the library) act as [`Principal::local`], the machine's
//! operator. What a caller may see is a [`Visibility`], which the store
//! applies in its queries, so every front-end inherits the same filter.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest principal name accepted.
pub const MAX_PRINCIPAL_LEN: usize = 64;

/// A principal's name: 1 to 64 characters of `A-Z a-z 0-9 . _ - : @`
/// (no `/`, no spaces, nothing a terminal or a URL would treat specially).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Principal(String);

impl Principal {
    /// The machine's operator: whoever runs the CLI, Python or the library
    /// in-process. Jobs recorded before principals existed belong to it.
    pub const LOCAL: &'static str = "local";

    /// The local operator.
    pub fn local() -> Self {
        Principal(Self::LOCAL.to_string())
    }

    /// A checked name ([`Error::InvalidInput`] saying what is allowed).
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= MAX_PRINCIPAL_LEN
            && name.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'@')
            });
        if ok {
            Ok(Principal(name))
        } else {
            Err(Error::InvalidInput(format!(
                "principal {name:?} is not a valid name: use 1 to {MAX_PRINCIPAL_LEN} characters \
                 of letters, digits and . _ - : @"
            )))
        }
    }

    /// The principal an API key with this id belongs to when none was
    /// named: its own (`key:<id>`), so keys share nothing by default.
    pub fn of_key(key_id: &str) -> Result<Self> {
        Principal::new(format!("key:{key_id}"))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the local operator.
    pub fn is_local(&self) -> bool {
        self.0 == Self::LOCAL
    }
}

impl Default for Principal {
    fn default() -> Self {
        Principal::local()
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Principal {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Principal::new(s)
    }
}

impl From<Principal> for String {
    fn from(p: Principal) -> String {
        p.0
    }
}

impl std::str::FromStr for Principal {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Principal::new(s.trim())
    }
}

/// Whose records a caller may see.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Visibility {
    /// Everyone's (the local operator, `admin`, `read:all`).
    #[default]
    All,
    /// Only this principal's.
    Own(Principal),
}

impl Visibility {
    /// Whether a record owned by `owner` is visible.
    pub fn admits(&self, owner: &Principal) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Own(me) => me == owner,
        }
    }

    /// The one principal the view is limited to, if it is limited.
    pub fn only(&self) -> Option<&Principal> {
        match self {
            Visibility::All => None,
            Visibility::Own(me) => Some(me),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in [
            "local",
            "alice",
            "key:0a1b2c3d4e5f",
            "ops-team_2",
            "bob@example.org",
        ] {
            assert_eq!(Principal::new(ok).expect("valid").as_str(), ok);
        }
        for bad in ["", "a/b", "a b", "x\n", "\u{1b}[31m", &"a".repeat(65)] {
            let e = Principal::new(bad).expect_err("refused");
            assert!(e.to_string().contains("letters, digits"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn visibility_admits_only_the_owner() {
        let alice = Principal::new("alice").expect("valid");
        let bob = Principal::new("bob").expect("valid");
        assert!(Visibility::All.admits(&bob));
        assert!(Visibility::Own(alice.clone()).admits(&alice));
        assert!(!Visibility::Own(alice).admits(&bob));
    }

    #[test]
    fn serde_refuses_a_bad_name() {
        assert!(serde_json::from_str::<Principal>("\"a/b\"").is_err());
        let p: Principal = serde_json::from_str("\"alice\"").expect("valid");
        assert_eq!(serde_json::to_string(&p).expect("valid"), "\"alice\"");
    }
}
