//! A receive_only endpoint's connection handle cannot push anything to the client.
use wsgen_generated::revali::ExampleListenConn;

fn push(conn: &ExampleListenConn) {
    let _ = conn.send("hello".to_owned());
}

fn main() {
    let _ = push;
}
