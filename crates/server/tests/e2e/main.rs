//! End-to-end tests: the whole server on loopback port 0, driven over real HTTP by real clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_center;
mod applications;
mod authentication;
mod bad_input;
mod batch;
mod cli;
mod conditional_access;
mod connections;
mod directory_audits;
mod domains;
mod dynamic;
mod faults;
mod groups;
mod guests;
mod interop;
mod invitations;
mod licensing;
mod lockout;
mod mail;
mod operations;
mod organization;
mod own_api;
mod password_pages;
mod processes;
mod provisioning;
mod queries;
mod roles;
mod scim;
mod sharing;
mod sign_in;
mod sign_in_log;
mod support;
mod users;
mod zone;
