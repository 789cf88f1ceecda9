//! Test helper for `tests/disk_faults.rs`: saves one JSON document with
//! [`la_broker_paper::persist::save_json_atomic`], so the test can run the real save path in a
//! child process under a real OS fault (an `RLIMIT_FSIZE` limit, a read-only bind mount)
//! without `unsafe` `pre_exec` hooks in the test process.
//!
//! Usage: `la-broker-persist-writer <path> <label> <payload_bytes>`.
//! Exit codes: 0 saved; 2 usage error; 3 save failed, with `save failed: os_error=<n>: <error>`
//! on stderr (`n` is the raw OS error number, or -1).

use std::{path::Path, process::ExitCode};

use la_broker_paper::persist::save_json_atomic;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, label, size] = args.as_slice() else {
        eprintln!("usage: la-broker-persist-writer <path> <label> <payload_bytes>");
        return ExitCode::from(2);
    };
    let Ok(size) = size.parse::<usize>() else {
        eprintln!("payload_bytes must be a non-negative integer, got {size:?}");
        return ExitCode::from(2);
    };
    let value = serde_json::json!({ "label": label, "payload": "x".repeat(size) });
    match save_json_atomic(Path::new(path), &value) {
        Ok(()) => {
            println!("saved {label}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!(
                "save failed: os_error={}: {err}",
                err.raw_os_error().unwrap_or(-1)
            );
            ExitCode::from(3)
        }
    }
}
