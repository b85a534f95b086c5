//! Test support shared by the store conformance suite, the core's use-case tests and the end-to-end tests.
//!
//! - [`fixtures`]: request bodies the tests share.
//! - [`postgres`]: one throwaway PostgreSQL cluster per test process, from the system's binaries, with a
//!   fresh database per test.
//! - [`process`]: the real `gatehouse` binary as a child process on port 0.
//! - [`python`]: a virtual environment with Microsoft's Graph SDK, made once and reused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod fixtures;
pub mod postgres;
pub mod process;
pub mod python;
