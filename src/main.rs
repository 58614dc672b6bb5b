//! The `wsgen` command line: a thin shell over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Formatting a large spec builds big syntax trees on several threads; mimalloc allocates and
/// frees them faster than the system allocator (a 1,000-endpoint spec: 0.55 s instead of 1.07 s).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use wsgen::{Error, WriteMode};

/// Generate typed Rust WebSocket servers and clients from a YAML spec.
#[derive(Parser)]
#[command(name = "wsgen", version, about, long_about = None)]
#[command(after_help = "Examples:
  wsgen generate api.yaml -o src/generated
  wsgen generate api.yaml -o src/generated --check
  wsgen generate api.yaml --target typescript -o web/src/api
  wsgen check api.yaml
  wsgen init chat
  wsgen docs api.yaml -o API.md
  wsgen asyncapi api.yaml -o asyncapi.json
  wsgen diff old.yaml api.yaml
  wsgen diff api.yaml --against origin/main --rolling

Exit codes: 0 ok, 1 the spec has errors (or --check found stale files), 2 usage or I/O problems;
wsgen diff: 0 nothing checked breaks, 1 something does, 2 a bad spec.")]
struct Cli {
    /// How to print spec errors: `human` (coloured when stderr is a terminal and NO_COLOR is
    /// unset) or `json` (one diagnostic per line on stdout).
    #[arg(long, global = true, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MessageFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TargetArg {
    Rust,
    #[value(alias = "ts")]
    Typescript,
}

#[derive(Subcommand)]
enum Command {
    /// Generate code from a spec into a directory: the Rust server and client (the default), or
    /// the TypeScript client.
    Generate {
        /// The spec file (YAML).
        spec: PathBuf,
        /// What to generate: `rust` (`<name>.rs`) or `typescript` (`<name>.ts`).
        #[arg(long, value_enum, default_value_t = TargetArg::Rust)]
        target: TargetArg,
        /// The output directory; files whose bytes did not change are not rewritten.
        #[arg(short, long, value_name = "DIR")]
        out: PathBuf,
        /// Write nothing; fail if any output file is missing or differs.
        #[arg(long)]
        check: bool,
    },
    /// Validate a spec and report every error in it.
    Check {
        /// The spec file (YAML).
        spec: PathBuf,
        /// Also warn about what this target cannot do with the spec (`typescript`: headers a
        /// browser cannot send).
        #[arg(long, value_enum)]
        target: Option<TargetArg>,
    },
    /// Print the intermediate representation that templates see, as JSON.
    Ir {
        /// The spec file (YAML).
        spec: PathBuf,
    },
    /// Write the API as an AsyncAPI 3.0 document (JSON).
    Asyncapi {
        /// The spec file (YAML).
        spec: PathBuf,
        /// Where to write it; standard output when absent.
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write a Markdown reference of the API: endpoints, modes, messages with JSON examples,
    /// close codes and limits.
    Docs {
        /// The spec file (YAML).
        spec: PathBuf,
        /// Where to write it; standard output when absent.
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Compare two versions of a spec and report which changes break deployed clients or
    /// servers: exit 0 when nothing checked breaks, 1 when something does, 2 on a bad spec.
    Diff {
        /// The old spec, then the new one; with `--against`, only the new one.
        #[arg(required = true, num_args = 1..=2, value_name = "SPEC")]
        specs: Vec<PathBuf>,
        /// Read the old spec from this git revision (`git show REV:PATH`, PATH being the new
        /// spec's path in its repository).
        #[arg(long, value_name = "GIT_REF")]
        against: Option<String>,
        /// Also check old servers meeting new clients (deployments that cannot put servers first).
        #[arg(long)]
        rolling: bool,
        /// Also fail on changes that break the generated Rust API without touching the wire.
        #[arg(long)]
        rust_api: bool,
        /// Accept a change: a code (`field-added-required`) or one change's id
        /// (`field-added-required:Join.email`); repeatable.
        #[arg(long, value_name = "CHANGE_ID")]
        allow: Vec<String>,
    },
    /// Write a commented starter spec `<NAME>.yaml` and `wsgen.schema.json`, and print how to
    /// use them from a crate. Existing files are never overwritten.
    Init {
        /// The API's name (lowercase, digits, `_`).
        #[arg(default_value = "api")]
        name: String,
        /// The directory to write into.
        #[arg(short, long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Diff {
        specs,
        against,
        rolling,
        rust_api,
        allow,
    } = cli.command
    {
        let check = wsgen::diff::Check {
            rolling,
            rust_api,
            allow,
        };
        return diff(&specs, against.as_deref(), &check, cli.message_format);
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e, cli.message_format);
            ExitCode::from(e.exit_code())
        }
    }
}

fn report(error: &Error, format: MessageFormat) {
    use std::io::IsTerminal;
    match (error, format) {
        (Error::Spec(diagnostics), MessageFormat::Json) => {
            for d in &diagnostics.0 {
                // A diagnostic is plain data; serialising it cannot fail.
                println!("{}", serde_json::to_string(d).unwrap_or_default());
            }
        }
        (Error::Spec(diagnostics), MessageFormat::Human) => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            eprintln!("{}", diagnostics.render(color));
        }
        (other, MessageFormat::Json) => {
            let message = serde_json::json!({ "message": other.to_string() });
            println!("{message}");
        }
        (other, MessageFormat::Human) => eprintln!("{other}"),
    }
}

/// `wsgen diff`: 0 when nothing checked breaks, 1 when something does, 2 on a bad spec or an
/// unreadable file.
fn diff(
    specs: &[PathBuf],
    against: Option<&str>,
    check: &wsgen::diff::Check,
    format: MessageFormat,
) -> ExitCode {
    let sources = match (specs, against) {
        ([new], Some(rev)) => {
            wsgen::diff::git_source(new, rev).and_then(|old| Ok((old, wsgen::load(new)?)))
        }
        ([old, new], None) => wsgen::load(old).and_then(|old| Ok((old, wsgen::load(new)?))),
        _ => {
            eprintln!("wsgen diff: give OLD.yaml NEW.yaml, or NEW.yaml --against GIT_REF");
            return ExitCode::from(2);
        }
    };
    let changes = match sources.and_then(|(old, new)| wsgen::diff::diff_sources(old, new)) {
        Ok(changes) => changes,
        Err(e) => {
            report(&e, format);
            return ExitCode::from(2);
        }
    };
    match format {
        MessageFormat::Json => print!("{}", wsgen::diff::render_json(&changes, check)),
        MessageFormat::Human => {
            use std::io::IsTerminal;
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            println!("{}", wsgen::diff::render(&changes, check, color));
        }
    }
    if wsgen::diff::fails(&changes, check) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes `text` to `out`, or prints it when there is no `out`.
fn write_or_print(text: String, out: Option<PathBuf>) -> Result<(), Error> {
    match out {
        Some(path) => {
            std::fs::write(&path, text).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            println!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Generate {
            spec,
            target,
            out,
            check,
        } => {
            let target = match target {
                TargetArg::Rust => wsgen::Target::Rust,
                TargetArg::Typescript => wsgen::Target::TypeScript,
            };
            let files = wsgen::generate_target(&spec, target)?;
            let mode = if check {
                WriteMode::Check
            } else {
                WriteMode::Write
            };
            let report = wsgen::write_files(&out, &files, mode)?;
            for path in &report.changed {
                let verb = if check { "stale" } else { "wrote" };
                println!("{verb} {}", path.display());
            }
            for path in &report.unchanged {
                println!("unchanged {}", path.display());
            }
            if check && !report.changed.is_empty() {
                return Err(Error::Stale(report.changed));
            }
            Ok(())
        }
        Command::Check { spec, target } => {
            let ir = wsgen::check(&spec)?;
            if matches!(target, Some(TargetArg::Typescript)) {
                for warning in wsgen::browser_warnings(&spec)? {
                    eprintln!("warning: {warning}");
                }
            }
            println!(
                "{}: ok ({}, {})",
                spec.display(),
                counted(ir.types.len(), "type", "types"),
                counted(ir.endpoints.len(), "endpoint", "endpoints")
            );
            Ok(())
        }
        Command::Asyncapi { spec, out } => write_or_print(wsgen::asyncapi(&spec)?, out),
        Command::Docs { spec, out } => write_or_print(wsgen::docs(&spec)?, out),
        Command::Diff { .. } => Ok(()),
        Command::Init { name, dir } => {
            let started = wsgen::init(&dir, &name)?;
            for path in &started.written {
                println!("wrote {}", path.display());
            }
            println!("\n{}", started.instructions);
            Ok(())
        }
        Command::Ir { spec } => {
            let ir = wsgen::check(&spec)?;
            let json = serde_json::to_string_pretty(&ir).map_err(|e| Error::Io {
                path: spec,
                source: std::io::Error::other(e),
            })?;
            println!("{json}");
            Ok(())
        }
    }
}

/// `n` with the noun that agrees with it: `1 endpoint`, `2 endpoints`, `no types`.
fn counted(n: usize, one: &str, many: &str) -> String {
    match n {
        0 => format!("no {many}"),
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}
