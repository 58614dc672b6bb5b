//! The test installer (`scripts/deps.sh`) on its own, independent of this machine: a stand-in
//! `apt-get` first on a `PATH` that holds nothing else of the system's but the shell tools the
//! script uses. The stand-in records its calls, "installs" a package by putting an executable of
//! that name on the `PATH`, and fails if two of it run at once, as Debian's real lock would.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The system tools the installer and the stand-ins call, linked into the test's own bin dir.
const TOOLS: &[&str] = &[
    "bash", "flock", "id", "mkdir", "rmdir", "dirname", "timeout", "sleep", "cat", "chmod", "env",
];

const FAKE_APT: &str = r#"#!/bin/bash
# Records the call; refuses to run beside another apt-get; installs by creating the command.
state="$(dirname "$0")/../state"
if ! mkdir "$state/running" 2>/dev/null; then
    echo "concurrent apt-get" >> "$state/calls"
    exit 100
fi
echo "$*" >> "$state/calls"
sleep 0.05
if [ -e "$state/offline" ]; then rmdir "$state/running"; echo "Temporary failure resolving" >&2; exit 100; fi
for arg in "$@"; do last="$arg"; done
case " $* " in
  *" install "*)
    printf '#!/bin/bash\necho "%s 1.0"\n' "$last" > "$(dirname "$0")/$last"
    chmod +x "$(dirname "$0")/$last" ;;
esac
rmdir "$state/running"
"#;

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        for tool in TOOLS {
            let real = which(tool);
            std::os::unix::fs::symlink(real, dir.path().join("bin").join(tool)).unwrap();
        }
        let sandbox = Sandbox { dir };
        sandbox.script("apt-get", FAKE_APT);
        sandbox
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn script(&self, name: &str, body: &str) {
        let path = self.bin().join(name);
        // Replace a link to a system tool, never write through it.
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn command(&self, component: &str) -> Command {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut command = Command::new(self.bin().join("bash"));
        command
            .arg(root.join("scripts/deps.sh"))
            .arg(component)
            .env_clear()
            .env("PATH", self.bin())
            .env("WSGEN_DEPS_SBIN", "")
            .env("WSGEN_DEPS_LOCK", self.dir.path().join("deps.lock"))
            .env("CARGO_TARGET_DIR", self.dir.path().join("target"))
            .env("WSGEN_STEP_LIMIT", "60");
        command
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("state/calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn which(tool: &str) -> PathBuf {
    ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(tool))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{tool} is not on this system"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn concurrent_runs_install_each_package_once() {
    let sandbox = Sandbox::new();
    let runs: Vec<_> = (0..8)
        .map(|_| {
            sandbox
                .command("cluster")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        let output = run.wait_with_output().unwrap();
        assert!(output.status.success(), "a run failed: {}", stderr(&output));
    }
    let calls = sandbox.calls();
    assert!(
        !calls.iter().any(|c| c.contains("concurrent")),
        "two apt-gets ran at once: {calls:?}"
    );
    let updates = calls.iter().filter(|c| c.ends_with(" update")).count();
    let installs: Vec<_> = calls.iter().filter(|c| c.contains(" install ")).collect();
    assert_eq!(updates, 1, "{calls:?}");
    assert_eq!(installs.len(), 2, "{calls:?}");
    assert!(installs[0].ends_with(" redis-server") && installs[1].ends_with(" nginx"));
    // apt-get waits for the package manager's lock instead of failing at once.
    assert!(
        calls.iter().all(|c| c.contains("DPkg::Lock::Timeout=")),
        "{calls:?}"
    );
    // Installed: a later run calls apt-get no more.
    let again = sandbox.command("cluster").output().unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(sandbox.calls().len(), calls.len());
}

#[test]
fn without_root_or_sudo_it_says_what_to_install() {
    let sandbox = Sandbox::new();
    sandbox.script("id", "#!/bin/bash\necho 1000\n");
    let output = sandbox.command("cluster").output().unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("'redis-server' is missing")
            && message.contains("not root, no password-less sudo")
            && message.contains("sudo apt-get install -y redis-server"),
        "{message}"
    );
    assert!(
        sandbox.calls().is_empty(),
        "apt-get ran: {:?}",
        sandbox.calls()
    );
}

#[test]
fn without_a_registry_it_fails_with_the_install_command() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.dir.path().join("state/offline"), "").unwrap();
    let output = sandbox.command("cluster").output().unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("'apt-get update' failed")
            && message.contains("sudo apt-get install -y redis-server"),
        "{message}"
    );
}

#[test]
fn without_apt_get_it_names_the_package() {
    let sandbox = Sandbox::new();
    std::fs::remove_file(sandbox.bin().join("apt-get")).unwrap();
    let output = sandbox.command("cluster").output().unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("has no apt-get; install 'redis-server'"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unknown_component_is_refused() {
    let sandbox = Sandbox::new();
    let output = sandbox.command("everything").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unknown component 'everything'"));
}
