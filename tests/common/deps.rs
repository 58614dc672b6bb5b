//! The outside things a test needs (Node, Python, Chromium, Redis, nginx), installed through
//! `scripts/deps.sh` once per test process and component: every test asking for a component
//! gets the outcome of one run, and a failed install fails the test with the installer's message
//! instead of skipping it. The script itself serialises concurrent test processes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// Installs `component` (`interop`, `cluster` or `bench`) unless this process already did;
/// panics with the installer's output when it cannot.
pub fn ensure(component: &str) {
    static OUTCOMES: Mutex<BTreeMap<String, Result<(), String>>> = Mutex::new(BTreeMap::new());
    let mut outcomes = OUTCOMES.lock().unwrap_or_else(|p| p.into_inner());
    let outcome = outcomes
        .entry(component.to_owned())
        .or_insert_with(|| run(component));
    if let Err(why) = outcome {
        panic!("the test dependencies '{component}' are not installed: {why}");
    }
}

fn run(component: &str) -> Result<(), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/deps.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg(component)
        .output()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "scripts/deps.sh {component} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
