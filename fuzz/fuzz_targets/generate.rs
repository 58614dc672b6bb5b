//! Fuzzes the whole generator: load (UTF-8 check), parse, shape check, validate, render and
//! format. Any input must give generated files or a spec error; never a panic, and a spec
//! error must be a diagnostic with a position.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match wsgen::load::from_bytes("fuzz.yaml", data.to_vec())
        .and_then(|s| wsgen::generate_source(&s))
    {
        Ok(files) => assert!(!files.is_empty()),
        Err(wsgen::Error::Spec(diagnostics)) => assert!(!diagnostics.0.is_empty()),
        // Render or format failures are generator bugs: fail loudly.
        Err(other) => panic!("{other}"),
    }
});
