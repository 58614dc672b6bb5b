//! Lowering of the spec's `limits` sections into calls on the runtime's `Limits` builders.

use serde_saphyr::Location;

use super::{Lowerer, parse_duration_ms};
use crate::ir::LimitIr;
use crate::spec::{Amount, LimitsDef, RateExceededDef, SlowConsumerDef, Spanned};

/// Where a `limits` section is: the spec's top level, or one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    Server,
    Endpoint,
}

/// The largest size a limit may name: 1 GiB. More would let one client pin that much memory.
const MAX_SIZE: u64 = 1 << 30;

/// Parses `64KiB`, `1MiB`, `512B` or `512` into bytes.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        _ => return None,
    };
    number.checked_mul(scale)
}

impl Lowerer<'_> {
    /// Lowers a `limits` section into builder calls, in a fixed order, reporting bad values and
    /// server-wide keys used on an endpoint.
    pub(super) fn limits(&mut self, def: Option<&LimitsDef>, scope: Scope) -> Vec<LimitIr> {
        let Some(def) = def else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let message = def
            .max_message_size
            .as_ref()
            .and_then(|size| self.size_limit(&mut out, "with_max_message_size", size));
        let frame = def
            .max_frame_size
            .as_ref()
            .and_then(|size| self.size_limit(&mut out, "with_max_frame_size", size));
        if let (Some(m), Some(f), Some(at)) = (message, frame, &def.max_frame_size) {
            if f > m {
                self.error_hint(
                    at.referenced,
                    format!("`max_frame_size` ({f} bytes) is larger than `max_message_size` ({m} bytes)"),
                    "a message is one or more frames, so a frame can be at most as large as a message",
                );
            }
        }
        if let Some(size) = &def.read_buffer {
            self.size_limit(&mut out, "with_read_buffer", size);
        }
        if let Some(count) = &def.send_queue {
            self.count_limit(&mut out, "with_send_queue", count, "send_queue");
        }
        if let Some(policy) = &def.slow_consumer {
            let variant = match policy.value {
                SlowConsumerDef::TryAgainLater => "TryAgainLater",
                SlowConsumerDef::PolicyViolation => "PolicyViolation",
                SlowConsumerDef::Reject => "Reject",
            };
            out.push(LimitIr::new(
                "with_slow_consumer",
                format!("wsgen_runtime::SlowConsumer::{variant}"),
            ));
        }
        self.message_rate(&mut out, def);
        if let Some(idle) = &def.idle_timeout {
            let value = if idle.value.trim() == "off" {
                "None".to_owned()
            } else {
                format!("Some({})", self.duration(idle, true))
            };
            out.push(LimitIr::new("with_idle_timeout", value));
        }
        if let Some(timeout) = &def.write_timeout {
            let value = self.duration(timeout, false);
            out.push(LimitIr::new("with_write_timeout", value));
        }
        if let Some(timeout) = &def.close_timeout {
            let value = self.duration(timeout, false);
            out.push(LimitIr::new("with_close_timeout", value));
        }
        let server_wide = [
            (
                "max_header_size",
                def.max_header_size.as_ref().map(|s| s.referenced),
            ),
            (
                "max_connections",
                def.max_connections.as_ref().map(|s| s.referenced),
            ),
            (
                "handshake_timeout",
                def.handshake_timeout.as_ref().map(|s| s.referenced),
            ),
            (
                "shutdown_timeout",
                def.shutdown_timeout.as_ref().map(|s| s.referenced),
            ),
        ];
        if scope == Scope::Endpoint {
            for (key, at) in server_wide {
                if let Some(at) = at {
                    self.server_wide(key, at);
                }
            }
            return out;
        }
        if let Some(size) = &def.max_header_size {
            self.size_limit(&mut out, "with_max_header_size", size);
        }
        if let Some(count) = &def.max_connections {
            self.count_limit(&mut out, "with_max_connections", count, "max_connections");
        }
        if let Some(timeout) = &def.handshake_timeout {
            let value = self.duration(timeout, false);
            out.push(LimitIr::new("with_handshake_timeout", value));
        }
        if let Some(timeout) = &def.shutdown_timeout {
            let value = self.duration(timeout, false);
            out.push(LimitIr::new("with_shutdown_timeout", value));
        }
        out
    }

    /// Lowers `max_messages_per_second`, `burst` and `rate_exceeded` into one
    /// `with_message_rate` call; `burst` or `rate_exceeded` without a rate is an error.
    fn message_rate(&mut self, out: &mut Vec<LimitIr>, def: &LimitsDef) {
        const MAX_RATE: i64 = 1_000_000;
        let Some(rate) = &def.max_messages_per_second else {
            let orphans = [
                ("burst", def.burst.as_ref().map(|b| b.referenced)),
                (
                    "rate_exceeded",
                    def.rate_exceeded.as_ref().map(|r| r.referenced),
                ),
            ];
            for (key, at) in orphans {
                if let Some(at) = at {
                    self.error_hint(
                        at,
                        format!("`{key}` shapes a message rate, but no rate is set"),
                        "add `max_messages_per_second` beside it",
                    );
                }
            }
            return;
        };
        let mut valid = true;
        for (key, value) in [
            ("max_messages_per_second", Some(rate)),
            ("burst", def.burst.as_ref()),
        ] {
            let Some(value) = value else { continue };
            if !(1..=MAX_RATE).contains(&value.value) {
                valid = false;
                self.error_hint(
                    value.referenced,
                    format!(
                        "`{key}` must be from 1 to {MAX_RATE}, found {}",
                        value.value
                    ),
                    format!("write a whole number of messages from 1 to {MAX_RATE}"),
                );
            }
        }
        if !valid {
            return;
        }
        let burst = def.burst.as_ref().map_or(rate.value, |b| b.value);
        let mut value = format!(
            "Some(wsgen_runtime::MessageRate::new({}, {burst})",
            rate.value
        );
        if let Some(RateExceededDef::Drop) = def.rate_exceeded.as_ref().map(|r| r.value) {
            value.push_str(".on_exceeded(wsgen_runtime::RateExceeded::Drop)");
        }
        value.push(')');
        out.push(LimitIr::new("with_message_rate", value));
    }

    fn server_wide(&mut self, key: &str, at: Location) {
        self.error_hint(
            at,
            format!("`{key}` is a limit of the whole server, not of one endpoint"),
            format!("move `{key}` to the spec's top-level `limits`"),
        );
    }

    /// Lowers one size into a builder call and returns it in bytes, or reports why it is not a
    /// usable size and returns `None`.
    fn size_limit(
        &mut self,
        out: &mut Vec<LimitIr>,
        method: &str,
        size: &Spanned<Amount>,
    ) -> Option<u64> {
        let bytes = match &size.value {
            Amount::Bytes(n) => u64::try_from(*n).ok(),
            Amount::Text(text) => parse_size(text),
        }
        .filter(|b| (1..=MAX_SIZE).contains(b));
        match bytes {
            Some(bytes) => out.push(LimitIr::new(method, format!("{bytes}"))),
            None => self.bad_size(size),
        }
        bytes
    }

    /// Reports a size that is not usable, with a hint (binary units for `KB`-style sizes).
    fn bad_size(&mut self, size: &Spanned<Amount>) {
        let shown = match &size.value {
            Amount::Bytes(n) => n.to_string(),
            Amount::Text(text) => text.clone(),
        };
        let decimal = [("KB", "KiB"), ("kB", "KiB"), ("MB", "MiB"), ("GB", "GiB")]
            .into_iter()
            .find_map(|(unit, binary)| {
                shown.strip_suffix(unit).map(|n| {
                    format!(
                        "sizes use binary units: did you mean `{}{binary}`?",
                        n.trim()
                    )
                })
            });
        let hint = decimal.unwrap_or_else(|| {
            "write a number of bytes, or a number with a unit: `512B`, `64KiB` or `1MiB`".to_owned()
        });
        self.error_hint(
            size.referenced,
            format!("`{shown}` is not a size between 1 byte and 1GiB"),
            hint,
        );
    }

    fn count_limit(
        &mut self,
        out: &mut Vec<LimitIr>,
        method: &str,
        count: &Spanned<i64>,
        key: &str,
    ) {
        if (1..=1_000_000_000).contains(&count.value) {
            out.push(LimitIr::new(method, count.value.to_string()));
        } else {
            self.error_hint(
                count.referenced,
                format!("`{key}` must be at least 1, found {}", count.value),
                format!("write a whole number from 1 to 1000000000 for `{key}`"),
            );
        }
    }

    /// A `std::time::Duration` expression; reports a bad duration (`off` is accepted only
    /// where `off_allowed`, and handled by the caller).
    fn duration(&mut self, text: &Spanned<String>, off_allowed: bool) -> String {
        let ms = self.duration_ms(text, off_allowed).unwrap_or(0);
        format!("std::time::Duration::from_millis({ms})")
    }

    /// A duration such as `30s` in milliseconds, or `None` after reporting why it is not one.
    /// Every duration of a spec (limits, `ping`) goes through here.
    pub(super) fn duration_ms(&mut self, text: &Spanned<String>, off_allowed: bool) -> Option<u64> {
        match parse_duration_ms(&text.value) {
            Some(ms) => Some(ms),
            None => {
                let hint = if off_allowed {
                    "write a positive whole number with a unit (`500ms`, `30s` or `2m`), or `off`"
                } else {
                    "write a positive whole number with a unit: `500ms`, `30s` or `2m`"
                };
                self.error_hint(
                    text.referenced,
                    format!("`{}` is not a positive duration", text.value),
                    hint,
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_bytes_or_binary_units() {
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("512B"), Some(512));
        assert_eq!(parse_size("64KiB"), Some(65_536));
        assert_eq!(parse_size("1 MiB"), Some(1_048_576));
        assert_eq!(parse_size("64KB"), None);
        assert_eq!(parse_size("KiB"), None);
        assert_eq!(parse_size("-1"), None);
    }
}
