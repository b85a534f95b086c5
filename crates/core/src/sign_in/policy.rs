//! The policy stage of a sign-in: pure, given the facts the earlier stages gathered. Conditional Access
//! and MFA add their rules here and nowhere else, so every front door enforces them alike and the
//! decision can be explained without replaying the request.

use crate::auth::scopes::{Scope, Scopes};

/// What a request for scopes asked of Microsoft Graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphRequest {
    /// `https://graph.microsoft.com/.default`: every scope consented to.
    Default,
    /// These scopes by name (none: only OpenID Connect scopes were asked for).
    Named(Scopes),
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
    /// The OpenID Connect scopes asked for.
    pub openid: Scopes,
    pub graph: GraphRequest,
    /// The Graph scopes consented to for this user and client.
    pub consented: Scopes,
}

/// Why a sign-in stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    Disabled,
    Unassigned,
}

/// What the person must do before the sign-in can go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// Consent to these scopes, not yet granted.
    Consent(Scopes),
    /// Change an expired or temporary password.
    PasswordChange,
}

/// The policy's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Issue tokens with these scopes (Graph's and OpenID Connect's).
    Grant(Scopes),
    Require(Interaction),
    Block(Block),
}

/// Decides a sign-in. A blocked account is refused before anything is asked of the person; consent is
/// asked last, since only a person allowed in may be asked for it.
pub fn evaluate(facts: &Facts) -> Decision {
    if !facts.account_enabled {
        return Decision::Block(Block::Disabled);
    }
    if facts.unassigned {
        return Decision::Block(Block::Unassigned);
    }
    if facts.must_change_password {
        return Decision::Require(Interaction::PasswordChange);
    }
    let graph = match facts.graph {
        // Nothing consented, nothing named: the sign-in itself asks for the user's profile.
        GraphRequest::Default if facts.consented.is_empty() => {
            return Decision::Require(Interaction::Consent(user_read()))
        }
        GraphRequest::Default => facts.consented,
        GraphRequest::Named(asked) if asked.intersect(facts.consented) != asked => {
            let missing = asked.iter().filter(|s| !facts.consented.contains(*s)).collect();
            return Decision::Require(Interaction::Consent(missing));
        }
        GraphRequest::Named(asked) if asked.is_empty() => facts.consented.intersect(user_read()),
        GraphRequest::Named(asked) => asked,
    };
    Decision::Grant(graph.iter().chain(facts.openid.iter()).collect())
}

fn user_read() -> Scopes {
    [Scope::UserRead].into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            account_enabled: true,
            must_change_password: false,
            unassigned: false,
            openid: Scopes::parse("openid profile offline_access"),
            graph: GraphRequest::Named(Scopes::parse("User.Read")),
            consented: Scopes::parse("User.Read Group.Read.All"),
        }
    }

    #[test]
    fn grants_what_was_asked_and_consented() {
        assert_eq!(evaluate(&facts()), Decision::Grant(Scopes::parse("openid profile offline_access User.Read")));
        let default = Facts { graph: GraphRequest::Default, ..facts() };
        assert_eq!(
            evaluate(&default),
            Decision::Grant(Scopes::parse("openid profile offline_access User.Read Group.Read.All"))
        );
        let only_openid = Facts { graph: GraphRequest::Named(Scopes::default()), ..facts() };
        assert_eq!(evaluate(&only_openid), Decision::Grant(Scopes::parse("openid profile offline_access User.Read")));
    }

    #[test]
    fn blocks_before_asking_and_asks_before_granting() {
        let unconsented = Facts { graph: GraphRequest::Named(Scopes::parse("User.Read.All")), ..facts() };
        assert_eq!(evaluate(&unconsented), Decision::Require(Interaction::Consent(Scopes::parse("User.Read.All"))));
        let nothing = Facts { graph: GraphRequest::Default, consented: Scopes::default(), ..facts() };
        assert_eq!(evaluate(&nothing), Decision::Require(Interaction::Consent(Scopes::parse("User.Read"))));
        let disabled = Facts { account_enabled: false, ..unconsented.clone() };
        assert_eq!(evaluate(&disabled), Decision::Block(Block::Disabled));
        let unassigned = Facts { unassigned: true, must_change_password: true, ..facts() };
        assert_eq!(evaluate(&unassigned), Decision::Block(Block::Unassigned));
        let expired = Facts { must_change_password: true, ..unconsented };
        assert_eq!(evaluate(&expired), Decision::Require(Interaction::PasswordChange));
    }
}
