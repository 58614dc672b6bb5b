//! Project chores: `cargo xtask regen [--check]` regenerates every checked-in output;
//! `cargo xtask bench [--quick]` measures a generated server against baselines (BENCHMARKS.md);
//! `cargo xtask bench pair 'A' 'B'` loads two echo servers side by side (a before and after);
//! `cargo xtask callgrind [--save | --metrics | --server PATH | --size BYTES]` counts the
//! instructions of the per-message path;
//! `cargo xtask idle-memory [--server PATH]` measures what a generated server spends per idle
//! connection.
//!
//! `generated/src/<name>.rs` comes from `examples/specs/<name>.yaml`, and
//! `generated/src/lib.rs` lists them; `schemas/wsgen.schema.json` is the JSON Schema of the spec
//! format, derived from the spec types; `tests/diff_e2e/*.rs` are the versions `tests/diff_e2e.rs`
//! runs against each other. `--check` writes nothing and fails, listing the stale
//! files, when any differs from what the generator produces now.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wsgen::{OutputFile, WriteMode};

mod bench;
mod idle;

const USAGE: &str = "usage: cargo xtask regen [--check] | bench [--quick] | bench cluster [--quick] | \
                     bench pair 'SERVER A' 'SERVER B' [--quick] | load ADDR .. | \
                     callgrind [--save | --metrics | --server PATH | --size BYTES] | \
                     idle-memory [--server PATH]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Some(code) = optimized(&args) {
        return code;
    }
    let result = match args.as_slice() {
        ["regen"] => regen(WriteMode::Write),
        ["regen", "--check"] => regen(WriteMode::Check),
        ["idle-memory"] => idle_memory(None),
        ["idle-memory", "--server", path] => idle_memory(Some(Path::new(path))),
        ["bench"] => bench::run(&root(), false),
        ["bench", "--quick"] => bench::run(&root(), true),
        ["bench", "cluster"] => bench::cluster_only(&root(), false),
        ["bench", "cluster", "--quick"] => bench::cluster_only(&root(), true),
        ["bench", "pair", a, b] => bench::pair_only(a, b, false),
        ["bench", "pair", a, b, "--quick"] => bench::pair_only(a, b, true),
        ["load", rest @ ..] => bench::load_only(rest),
        ["callgrind", rest @ ..] => bench::callgrind::Options::parse(rest)
            .and_then(|options| bench::callgrind::run(&root(), &options)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The modules `tests/diff_e2e.rs` compiles (`tests/diff_e2e/<module>.rs`) and the specs of the
/// diff catalogue they are generated from.
const DIFF_E2E_MODULES: &[(&str, &str)] = &[
    ("old", "tests/specs/diff/e2e_field_added_required/old.yaml"),
    (
        "field_added_required",
        "tests/specs/diff/e2e_field_added_required/new.yaml",
    ),
    (
        "enum_value_added",
        "tests/specs/diff/e2e_enum_value_added/new.yaml",
    ),
    (
        "field_removed_required",
        "tests/specs/diff/e2e_field_removed_required/new.yaml",
    ),
    (
        "field_added_optional",
        "tests/specs/diff/e2e_field_added_optional/new.yaml",
    ),
    ("type_renamed", "tests/specs/diff/e2e_type_renamed/new.yaml"),
    (
        "union_old",
        "tests/specs/diff/e2e_union_variant_added/old.yaml",
    ),
    (
        "union_variant_added",
        "tests/specs/diff/e2e_union_variant_added/new.yaml",
    ),
];

/// The measuring commands run as an optimized build: `cargo xtask` builds this crate without
/// optimizations, and an unoptimized load client measured itself rather than the servers (it
/// reached 59k messages per second against the plain TCP echo, where the optimized one reaches
/// over 250k). So a debug build of a measuring command builds the release one and runs it with
/// the same arguments; `None` means this process does the work itself.
fn optimized(args: &[&str]) -> Option<ExitCode> {
    let measuring = matches!(
        args.first(),
        Some(&("bench" | "load" | "callgrind" | "idle-memory"))
    );
    if !cfg!(debug_assertions) || !measuring {
        return None;
    }
    let root = root();
    let built = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--release", "--package", "xtask"])
        .current_dir(&root)
        .status();
    if !matches!(built, Ok(status) if status.success()) {
        eprintln!("xtask: could not build its release binary ({built:?})");
        return Some(ExitCode::FAILURE);
    }
    let binary = target_dir(&root)
        .join("release/xtask")
        .with_extension(std::env::consts::EXE_EXTENSION);
    let status = std::process::Command::new(&binary).args(args).status();
    Some(match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(status.code().map_or(1, |c| c.clamp(1, 255) as u8)),
        Err(e) => {
            eprintln!("xtask: {}: {e}", binary.display());
            ExitCode::FAILURE
        }
    })
}

/// Where cargo builds: `CARGO_TARGET_DIR` when it is set.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root.join("target"), |dir| root.join(dir))
}

fn root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `server`: an echo server built elsewhere (another commit), measured instead of this tree's.
fn idle_memory(server: Option<&Path>) -> Result<(), String> {
    let results = idle::run(&root(), server)?;
    let table = idle::table(&results);
    println!("{table}");
    let out = root().join("target/idle-memory.md");
    std::fs::write(&out, &table).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("written to {}", out.display());
    Ok(())
}

fn regen(mode: WriteMode) -> Result<(), String> {
    let root = root();
    // Specs are named relative to the root in what is generated from them, wherever this runs.
    std::env::set_current_dir(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let specs_dir = root.join("examples/specs");
    let out_dir = root.join("generated/src");
    let mut specs: Vec<PathBuf> = std::fs::read_dir(&specs_dir)
        .map_err(|e| format!("{}: {e}", specs_dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    specs.sort();

    let ts_dir = root.join("generated/ts");
    let mut files: Vec<OutputFile> = Vec::new();
    let mut ts_files: Vec<OutputFile> = Vec::new();
    let mut modules: Vec<(String, String)> = Vec::new();
    for spec in &specs {
        let relative = spec.strip_prefix(&root).unwrap_or(spec);
        ts_files.extend(
            wsgen::generate_target(relative, wsgen::Target::TypeScript)
                .map_err(|e| e.to_string())?,
        );
        for file in wsgen::generate(relative).map_err(|e| e.to_string())? {
            if let Some(stem) = file.path.file_stem() {
                let source = relative.display().to_string().replace('\\', "/");
                modules.push((stem.to_string_lossy().into_owned(), source));
            }
            files.push(file);
        }
    }
    files.push(lib_rs(&modules));
    // Every TypeScript module comes with the same client core: written once.
    let mut seen = std::collections::BTreeSet::new();
    ts_files.retain(|file| seen.insert(file.path.clone()));

    // The modules `tests/diff_e2e.rs` compiles: one per version of its spec pairs.
    let diff_dir = root.join("tests/diff_e2e");
    let mut diff_files: Vec<OutputFile> = Vec::new();
    for (module, spec) in DIFF_E2E_MODULES {
        for mut file in wsgen::generate(Path::new(spec)).map_err(|e| e.to_string())? {
            file.path = PathBuf::from(format!("{module}.rs"));
            diff_files.push(file);
        }
    }

    let schema = OutputFile {
        path: PathBuf::from("wsgen.schema.json"),
        contents: wsgen::json_schema_text(),
    };
    let groups: [(&Path, &[OutputFile], Option<&str>); 4] = [
        (&out_dir, &files, Some("rs")),
        (&ts_dir, &ts_files, Some("ts")),
        (&diff_dir, &diff_files, Some("rs")),
        (&root.join("schemas"), std::slice::from_ref(&schema), None),
    ];
    let mut report = wsgen::WriteReport::default();
    let mut extra = Vec::new();
    for (dir, group, extension) in groups {
        let written = wsgen::write_files(dir, group, mode).map_err(|e| e.to_string())?;
        report.changed.extend(written.changed);
        report.unchanged.extend(written.unchanged);
        if let Some(extension) = extension {
            let expected: Vec<PathBuf> = group.iter().map(|f| dir.join(&f.path)).collect();
            extra.extend(extra_files(dir, &expected, extension)?);
        }
    }

    match mode {
        WriteMode::Write => {
            for path in &extra {
                std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
                println!("removed {}", shown(&root, path));
            }
            for path in &report.changed {
                println!("wrote {}", shown(&root, path));
            }
            println!(
                "{} specs, {} files written, {} unchanged",
                specs.len(),
                report.changed.len(),
                report.unchanged.len()
            );
            Ok(())
        }
        WriteMode::Check => {
            if report.changed.is_empty() && extra.is_empty() {
                println!("generated/, schemas/ and tests/diff_e2e/ are up to date");
                return Ok(());
            }
            let mut message = String::from("generated code is out of date:\n");
            for path in &report.changed {
                message.push_str(&format!("  stale: {}\n", shown(&root, path)));
            }
            for path in &extra {
                message.push_str(&format!("  no spec produces: {}\n", shown(&root, path)));
            }
            message.push_str("run `cargo xtask regen` and commit the result");
            Err(message)
        }
    }
}

/// `generated/src/lib.rs`: one module per generated file, named with the spec it came from.
fn lib_rs(modules: &[(String, String)]) -> OutputFile {
    let mut contents = String::from(
        "// @generated by `cargo xtask regen`. Do not edit by hand.\n\
         //! The checked-in output of wsgen for every spec in `examples/specs/`, compiled and\n\
         //! tested as part of the workspace. The modules are formatted by wsgen (prettyplease),\n\
         //! so rustfmt is told to leave them alone.\n\n",
    );
    for (module, spec) in modules {
        contents.push_str(&format!(
            "/// Generated from `{spec}`.\n#[rustfmt::skip]\npub mod {module};\n"
        ));
    }
    OutputFile {
        path: PathBuf::from("lib.rs"),
        contents,
    }
}

/// Files with `extension` in `dir` that no spec produces any more.
fn extra_files(dir: &Path, expected: &[PathBuf], extension: &str) -> Result<Vec<PathBuf>, String> {
    let mut extra: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == extension) && !expected.contains(p))
        .collect();
    extra.sort();
    Ok(extra)
}

fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
