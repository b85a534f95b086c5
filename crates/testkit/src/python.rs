//! A Python virtual environment with Microsoft's Graph SDK, MSAL, azure-identity, authlib, Selenium, pyotp and
//! aiosmtpd (an SMTP server), for the interoperability tests.
//!
//! Made once under the given directory (the build's target tree) and reused; an interrupted install
//! never leaves a half-made environment behind, because it is built beside and renamed into place. Tests
//! of one process take turns; separate processes each build under their own name and the first rename wins.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Tests of one process ask for the environment at once; one of them builds it while the others wait.
static BUILDING: Mutex<()> = Mutex::new(());

/// The pinned client libraries the interop tests drive Gatehouse with.
pub const PACKAGES: &[&str] = &[
    "msgraph-sdk==1.65.0",
    "msal==1.39.0",
    "azure-identity==1.27.0",
    "authlib==1.6.5",
    "selenium==4.38.0",
    "axe-selenium-python-nhsuk==1.0.4",
    "pyotp==2.9.0",
    "aiosmtpd==1.4.6",
    "scim2-tester[httpx2]==0.5.2",
    "scim2-server==0.8.3",
];

/// A stable digest of the package list (FNV-1a), so a changed list gets an environment of its own.
fn fingerprint(packages: &[&str]) -> u64 {
    packages
        .join(" ")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// The environment's python, creating the environment first if needed.
pub fn interop_python(root: &Path) -> PathBuf {
    let venv = root.join(format!("interop-venv-{:016x}", fingerprint(PACKAGES)));
    let python = venv.join("bin").join("python");
    let _building = BUILDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if python.exists() {
        return python;
    }
    let building = root.join(format!("interop-venv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let status = Command::new("python3").arg("-m").arg("venv").arg(&building).status().expect("python3 runs");
    assert!(status.success(), "python3 -m venv failed (Debian: apt-get install python3-venv)");
    let status = Command::new(building.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(PACKAGES)
        .status()
        .expect("pip runs");
    assert!(status.success(), "installing {PACKAGES:?} from PyPI failed");
    if std::fs::rename(&building, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    python
}
