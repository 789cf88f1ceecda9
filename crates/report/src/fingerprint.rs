//! The configuration fingerprint: a short, stable identifier of "which settings produced
//! this run", so two reports can be compared at a glance.
//!
//! It is FNV-1a (64-bit; offset basis `0xcbf29ce484222325`, prime `0x100000001b3`) over the
//! canonical JSON of the configuration object: keys sorted at every level, no whitespace,
//! strings escaped as serde_json does. FNV-1a is not cryptographic, which is fine here: the
//! fingerprint detects accidental differences, it does not authenticate anything. It is
//! written as `fnv1a64:` followed by 16 lowercase hex digits.

use serde_json::Value;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME)
    })
}

/// Canonical JSON: object keys sorted at every level (independent of whether serde_json
/// keeps insertion order in this build), no whitespace.
pub(crate) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(key) {
                    write_canonical(inner, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `fnv1a64:<16 hex digits>` of the canonical JSON of `config`.
pub fn config_fingerprint(config: &Value) -> String {
    format!(
        "fnv1a64:{:016x}",
        fnv1a64(canonical_json(config).as_bytes())
    )
}
