//! Generates the greeter API into OUT_DIR; cargo reruns this only when the spec changes.

fn main() -> Result<(), wsgen::Error> {
    wsgen::Builder::new().spec("greeter.yaml").generate()
}
