//! Pieces shared by `cargo xtask soak`, `crash` and `diskfault`: where the release binary
//! is, a seeded generator, the check list that becomes a report, and readers for the files
//! a session leaves in its workspace.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    json::{self, Json},
    run_echoed,
};

/// Session configuration (`--config`) for the reliability runs: the `sma-cross` strategy
/// with a 0.1 % stop and a 1 R target trades every few seconds at 60–120×, and the circuit
/// breaker is out of the way, so kills, faults and full disks land on fills, exits and
/// their state saves. (The default `setups` strategy takes no trade on the simulator's
/// generated data.)
pub(crate) const FAST_TRADING_TOML: &str = r#"# Written by cargo xtask (soak, crash, diskfault): trade often.
strategy = "sma-cross"
max_consecutive_losses = 1000000
max_daily_drawdown = "0.9"

[sma_cross]
fast = 5
slow = 15
stop_bps = "10"
tp_r = "1"
min_stop_cost_multiple = "0"
"#;

/// The value after a command-line option (`--rounds 50`), parsed.
pub(crate) fn option_value<T>(
    it: &mut std::slice::Iter<'_, String>,
    name: &str,
) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    it.next()
        .ok_or_else(|| format!("{name} needs a value"))?
        .parse()
        .map_err(|e| format!("{name}: {e}"))
}

/// The cargo target directory: `CARGO_TARGET_DIR` (relative paths are taken from the
/// project root, as cargo does from its working directory), else `<root>/target`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(PathBuf::from(dir)),
        _ => root.join("target"),
    }
}

/// Builds the release binary and returns its path.
pub(crate) fn build_release(root: &Path) -> Result<PathBuf, String> {
    run_echoed(
        Command::new(crate::cargo_bin())
            .args(["build", "--release", "--package", "laptop-agents"])
            .current_dir(root),
    )?;
    let binary = target_dir(root).join("release").join("laptop-agents");
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!("the release binary is not at {}", binary.display()))
    }
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants): deterministic per seed,
/// good enough to pick kill moments, and dependency-free.
#[derive(Clone, Debug)]
pub(crate) struct Lcg(u64);

impl Lcg {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // The high bits of an LCG are the random ones.
        self.0 ^ (self.0 >> 29)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        (self.next_u64() >> 11) % n.max(1)
    }
}

/// One verdict of a check list.
#[derive(Clone, Debug)]
pub(crate) struct Check {
    pub(crate) name: String,
    pub(crate) passed: bool,
    pub(crate) detail: String,
}

/// An ordered list of checks, printed as a table and written to the reports.
#[derive(Clone, Debug, Default)]
pub(crate) struct Checks(pub(crate) Vec<Check>);

impl Checks {
    /// Records `result` (`Ok(detail)` passes, `Err(detail)` fails) and prints it.
    pub(crate) fn record(&mut self, name: &str, result: Result<String, String>) {
        let (passed, detail) = match result {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        println!(
            "  [{}] {name}: {detail}",
            if passed { "PASS" } else { "FAIL" }
        );
        self.0.push(Check {
            name: name.to_owned(),
            passed,
            detail,
        });
    }

    pub(crate) fn all_passed(&self) -> bool {
        self.0.iter().all(|c| c.passed)
    }

    pub(crate) fn failures(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }

    /// A Markdown table of the checks.
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::from("| check | result | detail |\n|---|---|---|\n");
        for check in &self.0 {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                check.name,
                if check.passed { "pass" } else { "**FAIL**" },
                check.detail.replace('|', "\\|").replace('\n', " ")
            ));
        }
        out
    }

    /// A JSON array of `{name, passed, detail}`.
    pub(crate) fn json(&self) -> String {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|c| {
                format!(
                    "{{\"name\":{},\"passed\":{},\"detail\":{}}}",
                    json::quote(&c.name),
                    c.passed,
                    json::quote(&c.detail)
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    }
}

/// Reads and parses a JSON file.
pub(crate) fn read_json(path: &Path) -> Result<Json, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Json::parse(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

/// Reads a JSON-lines file; every non-empty line must parse. A torn last line (a crash
/// mid-write) is reported as an error like any other.
pub(crate) fn read_json_lines(path: &Path) -> Result<Vec<Json>, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            Json::parse(line).map_err(|e| format!("{} line {}: {e}: {line}", path.display(), i + 1))
        })
        .collect()
}

/// Which copy of a state file was readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StateCopy {
    Main,
    Backup,
}

impl StateCopy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::Backup => "bak",
        }
    }
}

/// Loads `paper/<name>` the way the session does: the main file, else `<name>.bak`; the
/// value must be an object with `schema_version` 1.
pub(crate) fn load_state(paper: &Path, name: &str) -> Result<(Json, StateCopy), String> {
    let main = paper.join(name);
    let backup = paper.join(format!("{name}.bak"));
    let mut problems = Vec::new();
    for (path, copy) in [(main, StateCopy::Main), (backup, StateCopy::Backup)] {
        if !path.exists() {
            problems.push(format!("{} missing", path.display()));
            continue;
        }
        match read_json(&path) {
            Ok(value) => match value.get("schema_version").and_then(Json::as_i64) {
                Some(1) => return Ok((value, copy)),
                other => problems.push(format!(
                    "{} has schema_version {other:?}, expected 1",
                    path.display()
                )),
            },
            Err(e) => problems.push(e),
        }
    }
    Err(problems.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lcg_is_deterministic_per_seed_and_spreads() {
        let mut a = Lcg::new(42);
        let mut b = Lcg::new(42);
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        for digit in 0..10 {
            assert!(xs.contains(&digit), "{digit} never drawn: {xs:?}");
        }
        assert_ne!(Lcg::new(1).next_u64(), Lcg::new(2).next_u64());
    }

    #[test]
    fn checks_render_failures_in_both_formats() {
        let mut checks = Checks::default();
        checks.record("exit", Ok("0".into()));
        checks.record("fds", Err("grew by 5 | bad".into()));
        assert!(!checks.all_passed());
        assert_eq!(checks.failures(), vec!["fds: grew by 5 | bad".to_owned()]);
        assert!(
            checks
                .markdown()
                .contains("| fds | **FAIL** | grew by 5 \\| bad |")
        );
        let parsed = Json::parse(&checks.json()).unwrap();
        let items = parsed.as_array().unwrap();
        assert_eq!(items[1].get("passed"), Some(&Json::Bool(false)));
    }

    #[test]
    fn state_falls_back_to_the_backup_and_checks_the_schema() {
        let dir = std::env::temp_dir().join(format!("xtask-state-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("s.json"), "{\"schema_version\":1,").unwrap();
        fs::write(dir.join("s.json.bak"), "{\"schema_version\":1,\"x\":2}").unwrap();
        let (value, copy) = load_state(&dir, "s.json").unwrap();
        assert_eq!(copy, StateCopy::Backup);
        assert_eq!(value.get("x").and_then(Json::as_i64), Some(2));
        fs::write(dir.join("s.json"), "{\"schema_version\":2}").unwrap();
        fs::remove_file(dir.join("s.json.bak")).unwrap();
        let err = load_state(&dir, "s.json").unwrap_err();
        assert!(err.contains("schema_version Some(2)"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
