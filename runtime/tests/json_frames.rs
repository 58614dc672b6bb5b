//! Typed JSON messages decode the same from a text frame (parsed as a `str`) as from the same
//! bytes in a binary frame (parsed as bytes): values, errors and field paths, on hand-picked
//! edge cases and random inputs; and the length rules' shortcuts on byte lengths agree with
//! counting characters.

use std::collections::BTreeMap;
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::DecodeError;
use wsgen_runtime::codegen::{JsonMessage, Validator, WireMessage};

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Inner {
    name: String,
    n: i64,
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Dto {
    name: String,
    f: f64,
    items: Vec<Inner>,
    #[serde(default)]
    map: BTreeMap<String, u8>,
    #[serde(default)]
    any: Option<serde_json::Value>,
    #[serde(default)]
    c: Option<char>,
}
impl JsonMessage for Dto {
    fn validate(&self, v: &mut Validator) {
        v.min_length("name", &self.name, 2);
        v.max_length("name", &self.name, 4);
    }
}

fn show(r: Result<Dto, DecodeError>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(DecodeError::Rejected(e)) => format!("rejected {e:?}"),
        Err(e) => format!("err {e:?}"),
    }
}

#[test]
fn text_and_binary_frames_decode_alike() {
    let nest = |d: usize, inner: &str| format!("{}{}{}", "[".repeat(d), inner, "]".repeat(d));
    let mut inputs: Vec<String> = vec![
        r#"{"name":"ab","f":1,"items":[]}"#.into(),
        r#"{"name":"ab","f":1,"items":[]} "#.into(),
        r#"{"name":"ab","f":1,"items":[]} x"#.into(),
        r#"{"name":"ab","f":1,"items":[]}{}"#.into(),
        r#"{"name":"ab","f":1,"items":[]}]"#.into(),
        r#"{"name":"ab","f":1,"items":[{"name":"x","n":"1"}]}"#.into(),
        r#"{"name":"ab","f":1,"items":[{"name":"x"}]}"#.into(),
        r#"{"name":"ab","f":1e400,"items":[]}"#.into(),
        r#"{"name":"ab","f":NaN,"items":[]}"#.into(),
        r#"{"name":"ab","f":-0,"items":[{"name":"x","n":99999999999999999999}]}"#.into(),
        r#"{"name":"\ud800","f":1,"items":[]}"#.into(),
        r#"{"name":"\udc00x","f":1,"items":[]}"#.into(),
        r#"{"name":"\ud83d\ude00","f":1,"items":[]}"#.into(),
        "{\"name\":\"a\u{0}\",\"f\":1,\"items\":[]}".into(),
        "{\"name\":\"a\tb\",\"f\":1,\"items\":[]}".into(),
        r#"{"name":"ab","f":1,"items":[],"map":{"é":300}}"#.into(),
        r#"{"name":"ab","f":1,"items":[],"c":"😀"}"#.into(),
        r#"{"name":"ab","f":1,"items":[],"c":"ab"}"#.into(),
        r#"{"name":"ab","f":1,"items":[],"c":"\ud83d\ude00"}"#.into(),
        r#"{"name":"ab","f":1,"items":[],"name":"cd"}"#.into(),
        r#"{"name":"😀😀😀😀","f":1,"items":[]}"#.into(),
        r#"{"name":"😀😀😀😀😀","f":1,"items":[]}"#.into(),
        r#"{"name":"é","f":1,"items":[]}"#.into(),
        r#"{"name":"éé","f":1,"items":[]}"#.into(),
        r#"{"name":"ab","f":1,"items":[],"any":"\ud800"}"#.into(),
        "\u{feff}{\"name\":\"ab\",\"f\":1,\"items\":[]}".into(),
        "".into(),
        "   ".into(),
        "{\"name\":\"é\nx\",\"f\":1,\"items\":[}".into(),
        "{\"na\u{e9}me\":1,\n\"f\":tru}".into(),
    ];
    for d in [10, 126, 127, 128, 129, 500] {
        inputs.push(format!(
            r#"{{"name":"ab","f":1,"items":[],"any":{}}}"#,
            nest(d, "1")
        ));
        inputs.push(format!(
            r#"{{"name":"ab","f":1,"items":[],"any":{}}}"#,
            nest(d, "1 2")
        ));
    }
    let mut differ = Vec::new();
    for input in &inputs {
        let text = show(Dto::decode(Message::text(input.clone())));
        let binary = show(Dto::decode(Message::binary(input.clone().into_bytes())));
        println!("{input:.60?}\n  text:   {text:.300}");
        if text != binary {
            differ.push(format!(
                "{input:.60?}\n  text:   {text}\n  binary: {binary}"
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn text_and_binary_frames_decode_alike_randomized() {
    let pieces = [
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"name\"",
        "\"f\"",
        "\"items\"",
        "\"n\"",
        "\"map\"",
        "\"any\"",
        "\"c\"",
        "\"ab\"",
        "\"é\"",
        "\"😀😀\"",
        "\"\\ud800\"",
        "\"\\ud83d\\ude00\"",
        "\"\\u00e9x\"",
        "\"\\x\"",
        "1",
        "-0",
        "1e400",
        "1.5",
        "99999999999999999999",
        "true",
        "null",
        " ",
        "\n",
        "\t",
        "\"a\u{1}\"",
        "\"",
        "\\",
        "NaN",
        "é",
        "\u{feff}",
        "{\"name\":\"abc\",\"f\":2,\"items\":[",
        "{\"name\":\"x\",\"n\":3}",
        "]}",
        "}}",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut differ = 0;
    for _ in 0..200_000 {
        let len = (next() % 12) as usize;
        let mut input = String::new();
        for _ in 0..len {
            input.push_str(pieces[(next() % pieces.len() as u64) as usize]);
        }
        let text = show(Dto::decode(Message::text(input.clone())));
        let binary = show(Dto::decode(Message::binary(input.clone().into_bytes())));
        if text != binary {
            differ += 1;
            if differ < 5 {
                println!("{input:?}\n  text:   {text}\n  binary: {binary}");
            }
        }
    }
    assert_eq!(differ, 0);
}
