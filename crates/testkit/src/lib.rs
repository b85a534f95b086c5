//! Test support shared by the store conformance suite and the end-to-end tests.
//!
//! - [`postgres`]: one throwaway PostgreSQL cluster per test process, from the system's binaries, with a
//!   fresh database per test.
//! - [`process`]: the real `gatehouse` binary as a child process on port 0.
//! - [`python`]: a virtual environment with Microsoft's Graph SDK, made once and reused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod postgres;
pub mod process;
pub mod python;
