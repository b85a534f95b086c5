//! The policy stage of a sign-in: pure, given the facts the earlier stages gathered (Conditional Access's
//! outcome among them, [`crate::conditional_access::evaluate`]), so every front door enforces the same rules
//! and the decision can be explained without replaying the request.

use crate::conditional_access::evaluate::Requirement;
use std::collections::BTreeSet;

/// Scopes of one resource by their values, in the resource's spelling.
pub type Names = BTreeSet<String>;

/// What a request asked of its resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// `{resource}/.default`: every scope consented to.
    Default,
    /// These scopes by name (none: only OpenID Connect scopes were asked for).
    Named(Names),
}

/// The facts a decision reads.
#[derive(Debug, Clone)]
pub struct Facts {
    pub account_enabled: bool,
    /// The user must change their password before anything else (`forceChangePasswordNextSignIn`).
    pub must_change_password: bool,
    /// The client requires an app role assignment and the user holds none (directly or through a group
    /// they are a direct member of).
    pub unassigned: bool,
    pub asked: Asked,
    /// The resource's scopes consented to (or pre-authorized) for this user and client.
    pub consented: Names,
    /// What `.default` asks for when nothing is consented yet.
    pub fallback: Names,
    /// What the Conditional Access policies that apply require.
    pub access: Requirement,
    /// The person holds an authenticator app, and this sign-in is one they make now (not a refresh token's
    /// going on from an earlier one): a method a person registered is asked for at every sign-in.
    pub holds_app: bool,
    /// Whether the sign-in was made with multifactor authentication.
    pub mfa: bool,
    /// The sign-in this one goes on from is older than a policy's sign-in frequency allows.
    pub stale: bool,
}

/// Why a sign-in stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    Disabled,
    Unassigned,
    /// A Conditional Access policy blocks the sign-in.
    ConditionalAccess,
}

/// What the person must do before the sign-in can go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    /// Consent to these scopes of the resource, not yet granted.
    Consent(Names),
    /// Change an expired or temporary password.
    PasswordChange,
    /// Prove a second factor (a Conditional Access policy requires multifactor authentication, or the person
    /// holds an authenticator app).
    Mfa,
    /// Sign in again: the earlier sign-in is older than a policy's sign-in frequency allows.
    SignInAgain,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Issue tokens with these scopes of the resource (and the OpenID Connect scopes asked).
    Grant(Names),
    Require(Interaction),
    Block(Block),
}

/// Decides a sign-in. A blocked account is refused before anything is asked of the person; then a blocking
/// Conditional Access policy; then the second factor a policy requires
/// or the person registered; consent is asked last, since only a
/// person allowed in may be asked for it.
pub fn evaluate(facts: &Facts) -> Decision {
    if !facts.account_enabled {
        return Decision::Block(Block::Disabled);
    }
    if facts.unassigned {
        return Decision::Block(Block::Unassigned);
    }
    if facts.access == Requirement::Block {
        return Decision::Block(Block::ConditionalAccess);
    }
    if facts.stale {
        return Decision::Require(Interaction::SignInAgain);
    }
    if facts.must_change_password {
        return Decision::Require(Interaction::PasswordChange);
    }
    if (facts.access == Requirement::Mfa || facts.holds_app) && !facts.mfa {
        return Decision::Require(Interaction::Mfa);
    }
    let consented = &facts.consented;
    match &facts.asked {
        // Nothing consented, nothing named: ask for what the sign-in needs.
        Asked::Default if consented.is_empty() && !facts.fallback.is_empty() => {
            Decision::Require(Interaction::Consent(facts.fallback.clone()))
        }
        Asked::Default => Decision::Grant(consented.clone()),
        Asked::Named(asked) if !asked.is_subset(consented) => {
            Decision::Require(Interaction::Consent(asked.difference(consented).cloned().collect()))
        }
        Asked::Named(asked) if asked.is_empty() => {
            Decision::Grant(consented.intersection(&facts.fallback).cloned().collect())
        }
        Asked::Named(asked) => Decision::Grant(asked.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Names {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn facts() -> Facts {
        Facts {
            account_enabled: true,
            must_change_password: false,
            unassigned: false,
            asked: Asked::Named(names("User.Read")),
            consented: names("User.Read Group.Read.All"),
            fallback: names("User.Read"),
            access: Requirement::Nothing,
            holds_app: false,
            mfa: false,
            stale: false,
        }
    }

    #[test]
    fn grants_what_was_asked_and_consented() {
        assert_eq!(evaluate(&facts()), Decision::Grant(names("User.Read")));
        let default = Facts { asked: Asked::Default, ..facts() };
        assert_eq!(evaluate(&default), Decision::Grant(names("User.Read Group.Read.All")));
        let only_openid = Facts { asked: Asked::Named(Names::new()), ..facts() };
        assert_eq!(evaluate(&only_openid), Decision::Grant(names("User.Read")));
        let roles_only = Facts { asked: Asked::Default, consented: Names::new(), fallback: Names::new(), ..facts() };
        assert_eq!(evaluate(&roles_only), Decision::Grant(Names::new()));
    }

    #[test]
    fn blocks_before_asking_and_asks_before_granting() {
        let unconsented = Facts { asked: Asked::Named(names("User.Read.All User.Read")), ..facts() };
        assert_eq!(evaluate(&unconsented), Decision::Require(Interaction::Consent(names("User.Read.All"))));
        let nothing = Facts { asked: Asked::Default, consented: Names::new(), ..facts() };
        assert_eq!(evaluate(&nothing), Decision::Require(Interaction::Consent(names("User.Read"))));
        let disabled = Facts { account_enabled: false, ..unconsented.clone() };
        assert_eq!(evaluate(&disabled), Decision::Block(Block::Disabled));
        let unassigned = Facts { unassigned: true, must_change_password: true, ..facts() };
        assert_eq!(evaluate(&unassigned), Decision::Block(Block::Unassigned));
        let expired = Facts { must_change_password: true, ..unconsented.clone() };
        assert_eq!(evaluate(&expired), Decision::Require(Interaction::PasswordChange));
        let blocked = Facts { access: Requirement::Block, must_change_password: true, ..unconsented.clone() };
        assert_eq!(evaluate(&blocked), Decision::Block(Block::ConditionalAccess));
        let second = Facts { access: Requirement::Mfa, ..unconsented.clone() };
        assert_eq!(evaluate(&second), Decision::Require(Interaction::Mfa), "the second factor before consent");
        let stale = Facts { stale: true, access: Requirement::Mfa, ..facts() };
        assert_eq!(evaluate(&stale), Decision::Require(Interaction::SignInAgain), "signing in again comes first");
        let proven = Facts { access: Requirement::Mfa, mfa: true, ..facts() };
        assert_eq!(evaluate(&proven), Decision::Grant(names("User.Read")));
        let registered = Facts { holds_app: true, ..unconsented.clone() };
        assert_eq!(evaluate(&registered), Decision::Require(Interaction::Mfa), "a registered app is asked for");
        let given = Facts { holds_app: true, mfa: true, ..facts() };
        assert_eq!(evaluate(&given), Decision::Grant(names("User.Read")));
    }
}
