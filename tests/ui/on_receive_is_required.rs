//! Cafeto's on_receive is required: a callbacks handler without on_message does not compile,
//! while on_connect and on_disconnect may be left out.
use wsgen_generated::cafeto::WsChatCallbacksHandler;

struct Forgetful;

impl WsChatCallbacksHandler for Forgetful {}

fn main() {}
