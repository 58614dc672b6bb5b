//! `wsgen init`: a commented starter spec for a new project, the JSON Schema beside it for
//! editors, and the lines that wire it into a crate's build.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior, context};

use crate::error::Error;
use crate::names::{is_identifier, snake_plain};

const STARTER: &str = include_str!("../templates/starter.yaml.j2");

/// What `init` wrote, and how to use it.
#[derive(Debug)]
pub struct Started {
    /// The files written, in order.
    pub written: Vec<PathBuf>,
    /// The Cargo.toml, build.rs and source lines that use the spec.
    pub instructions: String,
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// The starter spec for an API called `name`.
pub fn starter_spec(name: &str) -> Result<String, Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let render = |e: minijinja::Error| Error::Render {
        template: "starter.yaml.j2".to_owned(),
        detail: e.to_string(),
    };
    env.add_template("starter", STARTER).map_err(render)?;
    let template = env.get_template("starter").map_err(render)?;
    let mut spec = template
        .render(context! { name => name, file => format!("{name}.yaml") })
        .map_err(render)?;
    spec.push('\n');
    Ok(spec)
}

/// The Cargo.toml line for one of wsgen's crates: a path into the clone this `wsgen` was built
/// from (wsgen is not on a registry), or a version where that clone is gone.
fn dependency_line(krate: &str, subdir: &str) -> String {
    // `..` resolved by hand: the clone may not exist (an installed `wsgen`), so no canonicalize.
    let mut clone = PathBuf::new();
    for part in Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(subdir)
        .components()
    {
        match part {
            std::path::Component::ParentDir => {
                clone.pop();
            }
            std::path::Component::CurDir => {}
            other => clone.push(other),
        }
    }
    if clone.join("Cargo.toml").is_file() {
        let path = clone.display().to_string().replace('\\', "/");
        format!("{krate} = {{ path = \"{path}\" }}")
    } else {
        format!("{krate} = \"{}\"", env!("CARGO_PKG_VERSION"))
    }
}

/// Writes `<name>.yaml` and `wsgen.schema.json` into `dir` (made if missing); refuses to
/// overwrite either.
pub fn init(dir: &Path, name: &str) -> Result<Started, Error> {
    let module = snake_plain(name);
    let spec_path = dir.join(format!("{name}.yaml"));
    if !is_identifier(&module) || module != name {
        return Err(io_error(
            &spec_path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "`{name}` is not a usable API name: use lowercase letters, digits and `_`, starting with a letter (such as `{}`)",
                    if is_identifier(&module) {
                        module.as_str()
                    } else {
                        "chat"
                    }
                ),
            ),
        ));
    }
    let schema_path = dir.join("wsgen.schema.json");
    for path in [&spec_path, &schema_path] {
        if path.exists() {
            return Err(io_error(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "already exists; wsgen init does not overwrite files (choose another name or directory)",
                ),
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let spec = starter_spec(name)?;
    std::fs::write(&spec_path, spec).map_err(|e| io_error(&spec_path, e))?;
    std::fs::write(&schema_path, crate::spec::json_schema_text())
        .map_err(|e| io_error(&schema_path, e))?;
    // build.rs runs in the crate's root: the spec's path from the nearest directory with a
    // `Cargo.toml` (`--dir my-crate` run beside the crate), else from where `wsgen init` runs.
    let in_crate = std::fs::canonicalize(&spec_path).ok().and_then(|absolute| {
        let root = absolute
            .ancestors()
            .skip(1)
            .find(|dir| dir.join("Cargo.toml").is_file())?;
        absolute.strip_prefix(root).ok().map(Path::to_path_buf)
    });
    let spec_in_build = in_crate
        .as_deref()
        .unwrap_or_else(|| spec_path.strip_prefix(".").unwrap_or(&spec_path))
        .display()
        .to_string()
        .replace('\\', "/");
    let instructions = format!(
        r#"Cargo.toml:

    [dependencies]
    {runtime}
    tokio = {{ version = "1", features = ["rt-multi-thread", "macros", "net", "signal"] }}

    [build-dependencies]
    {generator}

build.rs (cargo reruns it only when the spec changes):

    fn main() -> Result<(), wsgen::Error> {{
        wsgen::Builder::new().spec("{spec_in_build}").generate()
    }}

src/lib.rs (public, so that the server and client binaries share it and no part warns):

    pub mod {name} {{
        wsgen_runtime::include_spec!("{name}");
    }}

Or generate files to check in: wsgen generate {spec_in_build} -o src/generated"#,
        runtime = dependency_line("wsgen-runtime", "../runtime"),
        generator = dependency_line("wsgen", ""),
    );
    Ok(Started {
        written: vec![spec_path, schema_path],
        instructions,
    })
}
