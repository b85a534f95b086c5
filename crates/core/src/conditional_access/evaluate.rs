//! Conditional Access evaluation, pure: which policies apply to a sign-in and why the others do not, and
//! what the applying ones require together. Real sign-ins and the What If API both come here, so they
//! cannot disagree.
//!
//! A policy applies when every condition it sets holds: the user is included and not excluded (by id,
//! group, role or being a guest), one of the sign-in's applications (the client and the resource it asks
//! for) is included and none excluded — or, for a policy on a user action, the sign-in is that action —,
//! and the client app type, platform and location match. Enforced policies combine as Entra combines them:
//! any `block` blocks; otherwise every policy's grant must be satisfied, so MFA is required if any applying
//! policy requires it. Report-only policies are judged and recorded, never enforced.

use super::locations::Location;
use super::policy::{ClientApp, Control, Lists, Policy, State};
use std::net::IpAddr;
use uuid::Uuid;

/// Who signs in.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub user: Uuid,
    pub guest: bool,
    /// The groups the user belongs to, directly or through nesting.
    pub groups: &'a [Uuid],
    /// The directory roles the user holds (template ids).
    pub roles: &'a [String],
}

/// What the sign-in is for and where it comes from; what is not known is `None`.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// App ids: the client, and the resource it asks for.
    pub applications: Vec<String>,
    /// A user action instead of an application (`urn:user:registersecurityinfo`).
    pub user_action: Option<String>,
    pub client_app: Option<ClientApp>,
    /// One of [`super::policy::PLATFORMS`].
    pub platform: Option<String>,
    pub ip: Option<IpAddr>,
}

/// One policy judged against a sign-in.
#[derive(Debug, Clone)]
pub struct Judged<'a> {
    pub policy: &'a Policy,
    pub applies: bool,
    /// The conditions that do not hold, in Graph's `whatIfAnalysisReasons` names (`policyNotEnabled` for a
    /// disabled policy); empty when it applies.
    pub reasons: Vec<&'static str>,
}

/// What the enforced policies that apply require of the sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    Nothing,
    Mfa,
    Block,
}

/// The sign-in's requirement and session rules, and each policy's result as sign-in logs name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub requirement: Requirement,
    /// The shortest sign-in frequency of the applying enforced policies, in seconds (0: every time).
    pub sign_in_frequency: Option<i64>,
    /// Whether the browser session persists, when an applying enforced policy says.
    pub persistent_browser: Option<bool>,
    /// Per policy: its id, name and result (`success`, `failure`, `notApplied`, `notEnabled`,
    /// `reportOnlySuccess`, `reportOnlyFailure`, `reportOnlyNotApplied`, `reportOnlyInterrupted`).
    pub results: Vec<(String, String, &'static str)>,
}

fn any_of<T: PartialEq>(list: &[T], items: &[T]) -> bool {
    items.iter().any(|item| list.contains(item))
}

fn ids(list: &[String]) -> Vec<Uuid> {
    list.iter().filter_map(|id| Uuid::parse_str(id).ok()).collect()
}

fn users_match(policy: &Policy, subject: &Subject<'_>) -> bool {
    let side = |users: &[String], groups: &[String], roles: &[String], guests: bool| {
        let user = subject.user.to_string();
        users.iter().any(|u| u == "All" || *u == user || (u == "GuestsOrExternalUsers" && subject.guest))
            || any_of(&ids(groups), subject.groups)
            || roles.iter().any(|r| subject.roles.iter().any(|held| held.eq_ignore_ascii_case(r)))
            || (guests && subject.guest)
    };
    let (users, groups, roles) = (&policy.users, &policy.groups, &policy.roles);
    side(&users.include, &groups.include, &roles.include, policy.guests.0)
        && !side(&users.exclude, &groups.exclude, &roles.exclude, policy.guests.1)
}

fn applications_match(policy: &Policy, context: &Context) -> Option<&'static str> {
    if !policy.user_actions.is_empty() {
        let asked = context.user_action.as_ref().is_some_and(|a| policy.user_actions.contains(a));
        return (!asked).then_some("userActions");
    }
    if context.user_action.is_some() {
        return Some("application");
    }
    let apps = &policy.applications;
    let included =
        apps.include.iter().any(|a| a == "All" || context.applications.iter().any(|c| c.eq_ignore_ascii_case(a)));
    let excluded = apps.exclude.iter().any(|a| context.applications.iter().any(|c| c.eq_ignore_ascii_case(a)));
    (!included || excluded).then_some("application")
}

fn client_app_matches(policy: &Policy, context: &Context) -> bool {
    policy.client_apps.is_empty()
        || policy.client_apps.iter().any(|c| c == "all" || context.client_app.is_some_and(|app| app.name() == c))
}

fn platform_matches(platforms: &Lists, context: &Context) -> bool {
    let platform = context.platform.as_deref();
    let named = |list: &[String]| platform.is_some_and(|p| list.iter().any(|l| l.eq_ignore_ascii_case(p)));
    (platforms.include.iter().any(|p| p == "all") || named(&platforms.include)) && !named(&platforms.exclude)
}

fn location_matches(named: &Lists, context: &Context, locations: &[Location]) -> bool {
    let side = |list: &[String]| {
        list.iter().any(|entry| match entry.as_str() {
            "All" => true,
            "AllTrusted" => locations.iter().any(|l| l.trusted && l.contains(context.ip)),
            id => locations.iter().any(|l| l.id == id && l.contains(context.ip)),
        })
    };
    side(&named.include) && !side(&named.exclude)
}

/// Judges one policy against a sign-in.
pub fn judge<'a>(policy: &'a Policy, subject: &Subject<'_>, context: &Context, locations: &[Location]) -> Judged<'a> {
    let mut reasons = Vec::new();
    if policy.state == State::Disabled {
        reasons.push("policyNotEnabled");
    }
    if !users_match(policy, subject) {
        reasons.push("users");
    }
    if let Some(reason) = applications_match(policy, context) {
        reasons.push(reason);
    }
    if !client_app_matches(policy, context) {
        reasons.push("clientApps");
    }
    if policy.platforms.as_ref().is_some_and(|p| !platform_matches(p, context)) {
        reasons.push("devicePlatform");
    }
    if policy.locations.as_ref().is_some_and(|l| !location_matches(l, context, locations)) {
        reasons.push("location");
    }
    Judged { policy, applies: reasons.is_empty(), reasons }
}

/// What a policy's grant requires.
fn required(policy: &Policy) -> Requirement {
    match &policy.grant {
        Some(grant) if grant.controls.contains(&Control::Block) => Requirement::Block,
        Some(grant) if grant.controls.contains(&Control::Mfa) => Requirement::Mfa,
        _ => Requirement::Nothing,
    }
}

/// Combines the judged policies for a sign-in that has (`mfa`) or has not done multifactor authentication.
pub fn outcome(judged: &[Judged<'_>], mfa: bool) -> Outcome {
    let mut out = Outcome {
        requirement: Requirement::Nothing,
        sign_in_frequency: None,
        persistent_browser: None,
        results: Vec::new(),
    };
    for judgement in judged {
        let policy = judgement.policy;
        let need = required(policy);
        let satisfied = match need {
            Requirement::Nothing => true,
            Requirement::Mfa => mfa,
            Requirement::Block => false,
        };
        let result = match (policy.state, judgement.applies) {
            (State::Disabled, _) => "notEnabled",
            (State::Enabled, false) => "notApplied",
            (State::ReportOnly, false) => "reportOnlyNotApplied",
            (State::Enabled, true) => {
                out.requirement = out.requirement.max_with(need);
                if let Some(seconds) = policy.sign_in_frequency {
                    out.sign_in_frequency = Some(out.sign_in_frequency.map_or(seconds, |s| s.min(seconds)));
                }
                out.persistent_browser = policy.persistent_browser.or(out.persistent_browser);
                if satisfied {
                    "success"
                } else {
                    "failure"
                }
            }
            (State::ReportOnly, true) => match (need, satisfied) {
                (_, true) => "reportOnlySuccess",
                (Requirement::Mfa, false) => "reportOnlyInterrupted",
                _ => "reportOnlyFailure",
            },
        };
        out.results.push((policy.id.clone(), policy.display_name.clone(), result));
    }
    out
}

impl Requirement {
    /// The stricter of two requirements.
    fn max_with(self, other: Requirement) -> Requirement {
        match (self, other) {
            (Requirement::Block, _) | (_, Requirement::Block) => Requirement::Block,
            (Requirement::Mfa, _) | (_, Requirement::Mfa) => Requirement::Mfa,
            _ => Requirement::Nothing,
        }
    }
}
