//! Who may use the bot: each allowed Telegram user is the principal
//! `telegram:<user id>` with its role's scopes; everyone else is refused.

use skynet_core::config::TelegramRole;
use skynet_core::store::keys::Grant;
use skynet_core::{Principal, Result};
use std::collections::BTreeMap;

/// The allowlist.
#[derive(Debug, Clone, Default)]
pub struct Access {
    users: BTreeMap<i64, TelegramRole>,
}

impl Access {
    /// An allowlist of user ids and their roles.
    pub fn new(users: BTreeMap<i64, TelegramRole>) -> Self {
        Access { users }
    }

    /// The user's role, if the user is allowed.
    pub fn role(&self, user: i64) -> Option<TelegramRole> {
        self.users.get(&user).copied()
    }

    /// The grant the user acts with, if allowed: principal
    /// `telegram:<id>`, the role's scopes, actor `telegram:<id>`.
    pub fn grant(&self, user: i64) -> Option<Result<Grant>> {
        let role = self.role(user)?;
        Some(principal_of(user).map(|principal| Grant {
            actor: principal.to_string(),
            principal,
            scopes: role.scopes(),
        }))
    }

    /// The admins' user ids (their private chats with the bot share the id).
    pub fn admins(&self) -> Vec<i64> {
        self.users
            .iter()
            .filter(|(_, r)| **r == TelegramRole::Admin)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Whether nobody is allowed (the bot then refuses everyone).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// The principal a Telegram user acts as.
pub fn principal_of(user: i64) -> Result<Principal> {
    Principal::new(format!("telegram:{user}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use skynet_core::store::keys::Scope;

    #[test]
    fn roles_become_grants_and_strangers_get_none() {
        let access = Access::new(BTreeMap::from([
            (1, TelegramRole::Viewer),
            (2, TelegramRole::Approver),
            (3, TelegramRole::Admin),
        ]));
        let viewer = access.grant(1).expect("allowed").expect("valid");
        assert_eq!(viewer.principal.as_str(), "telegram:1");
        assert!(viewer.allows(Scope::ReadAll) && !viewer.allows(Scope::Submit));
        assert!(!viewer.allows(Scope::Approve));
        let approver = access.grant(2).expect("allowed").expect("valid");
        assert!(approver.allows(Scope::Submit) && approver.allows(Scope::Approve));
        assert!(!approver.allows(Scope::Admin));
        assert!(
            access
                .grant(3)
                .expect("allowed")
                .expect("valid")
                .allows(Scope::Admin)
        );
        assert!(access.grant(4).is_none());
    }
}
