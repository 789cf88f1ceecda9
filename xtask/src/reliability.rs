//! Pieces shared by `cargo xtask soak`, `crash` and `diskfault`: where the release binary
//! is and how it is started, a seeded generator, the check list that becomes a report, and
//! readers for the files a session leaves in its workspace.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use xshell::{Shell, cmd};

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
pub(crate) fn option_value<T>(it: &mut std::slice::Iter<'_, String>, name: &str) -> Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    it.next()
        .with_context(|| format!("{name} needs a value"))?
        .parse()
        .with_context(|| name.to_owned())
}

/// The cargo target directory: `CARGO_TARGET_DIR` (relative paths are taken from the
/// project root, as cargo does from its working directory), else `<root>/target`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(PathBuf::from(dir)),
        _ => root.join("target"),
    }
}

/// Builds the `laptop-agents` binary (`profile` is `debug` or `release`) and returns its path.
pub(crate) fn build_binary(sh: &Shell, profile: &str) -> Result<PathBuf> {
    let cargo = crate::cargo_bin();
    let release = (profile == "release").then_some("--release");
    cmd!(sh, "{cargo} build {release...} --package laptop-agents").run()?;
    let binary = target_dir(&sh.current_dir())
        .join(profile)
        .join("laptop-agents");
    if binary.is_file() {
        Ok(binary)
    } else {
        bail!("the {profile} binary is not at {}", binary.display())
    }
}

/// The arguments of a live session on the in-process simulator at `speed`× for `duration`,
/// in `workspace`, with the trading configuration `config`; exchange-clock skew checks are
/// off (the simulator's clock is virtual). Callers append their own options.
pub(crate) fn sim_session_args(
    speed: &str,
    duration: &str,
    workspace: &Path,
    config: &Path,
) -> Result<Vec<String>> {
    session_args(
        &["--source", "sim", "--speed", speed],
        duration,
        workspace,
        config,
    )
}

/// `run <source...> --max-clock-skew off --http 127.0.0.1:0 --duration <duration> --workspace
/// <workspace> --config <config>`: a live session on a simulator, whose clock is virtual (so
/// skew checks are off), wherever the simulator runs (`source` says which and how it is
/// reached). The HTTP surface stays on, as users have it, but on a free port: a session of
/// someone else's holding the default port must not turn a soak's bind into an ERROR line.
pub(crate) fn session_args(
    source: &[&str],
    duration: &str,
    workspace: &Path,
    config: &Path,
) -> Result<Vec<String>> {
    let mut args = vec!["run".to_owned()];
    args.extend(source.iter().map(|s| (*s).to_owned()));
    args.extend(
        [
            "--max-clock-skew",
            "off",
            "--http",
            "127.0.0.1:0",
            "--duration",
            duration,
            "--workspace",
            &path_text(workspace)?,
            "--config",
            &path_text(config)?,
        ]
        .map(str::to_owned),
    );
    Ok(args)
}

/// The text of a path that is handed to the binary as an argument.
pub(crate) fn path_text(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .with_context(|| format!("non-UTF-8 path {}", path.display()))
}

/// Starts `binary args` as users run it, in xtask's own environment with nothing added (no
/// allocator tuning: what is measured is what users get), with stdin closed and stdout and
/// stderr both in the file `console`, echoing the command first.
pub(crate) fn spawn_with_console(binary: &Path, args: &[String], console: &Path) -> Result<Child> {
    let out = fs::File::create(console)
        .with_context(|| format!("cannot create {}", console.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("cannot share {}", console.display()))?;
    println!("$ {} {}", binary.display(), args.join(" "));
    Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))
}

/// Waits for `child` to exit, calling `on_poll` with the time since the wait began every
/// 100 ms; kills it, and fails, once it has run longer than `limit`.
pub(crate) fn wait_polling(
    child: &mut Child,
    limit: Duration,
    mut on_poll: impl FnMut(Duration),
) -> Result<ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("cannot wait for pid {}", child.id()))?
        {
            return Ok(status);
        }
        let elapsed = started.elapsed();
        on_poll(elapsed);
        if elapsed > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "pid {} was still running after {} s; killed it",
                child.id(),
                limit.as_secs()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for `child` to exit; kills it, and fails, once it has run longer than `limit`.
pub(crate) fn wait_with_deadline(child: &mut Child, limit: Duration) -> Result<ExitStatus> {
    wait_polling(child, limit, |_| {})
}

/// Writes `text` to `path`, naming the path if that fails.
pub(crate) fn write_file(path: &Path, text: impl AsRef<[u8]>) -> Result<()> {
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The shared month of real 1-minute candles, from the one locator of the shared data
/// folder (`../shared/data` beside the repository, or `LA_SHARED_DATA`); `why` says what
/// needs it when it is missing.
pub(crate) fn shared_month(why: &str) -> Result<PathBuf> {
    let data = la_shared_data::root().join("candles").join(SHARED_MONTH);
    anyhow::ensure!(
        data.is_file(),
        "{why} needs the real candle file {} (../shared beside the repository, or the folder \
         named by {})",
        data.display(),
        la_shared_data::ENV_VAR
    );
    Ok(data)
}

/// The file name of the shared month.
pub(crate) const SHARED_MONTH: &str = "binance_spot_btcusdt_1m_2021-04-20_2021-05-20.csv.gz";

/// Reads `path` as text, naming the path if that fails.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `date -u` and `git rev-parse --short HEAD`, for report headers.
pub(crate) fn provenance(sh: &Shell) -> (String, String) {
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_else(|_| "unknown".to_owned());
    (date, git_commit(sh).unwrap_or_else(|| "unknown".to_owned()))
}

/// The short hash of `HEAD`, if git can tell.
pub(crate) fn git_commit(sh: &Shell) -> Option<String> {
    cmd!(sh, "git rev-parse --short HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants): deterministic per seed
/// and good enough to pick kill moments. Kept rather than a library generator so a seed
/// replays the same kill moments and market series as the published runs.
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
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Check {
    pub(crate) name: String,
    pub(crate) passed: bool,
    pub(crate) detail: String,
}

/// An ordered list of checks, printed as a table and written to the reports.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(transparent)]
pub(crate) struct Checks(pub(crate) Vec<Check>);

impl Checks {
    /// Records `result` (`Ok(detail)` passes, an error fails with its message) and prints it.
    pub(crate) fn record(&mut self, name: &str, result: Result<String>) {
        let (passed, detail) = match result {
            Ok(detail) => (true, detail),
            Err(error) => (false, format!("{error:#}")),
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
}

/// A check's verdict: passed with `detail`, or failed with it.
pub(crate) fn verdict(passed: bool, detail: String) -> Result<String> {
    if passed {
        Ok(detail)
    } else {
        Err(anyhow!(detail))
    }
}

/// Reads a JSON file into `T`.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    serde_json::from_str(&read_text(path)?)
        .with_context(|| format!("{} does not parse", path.display()))
}

/// Parses the non-empty lines of a JSON-lines text into `T`s; `what` names the text in
/// errors. A torn last line (a crash mid-write) is an error like any other.
pub(crate) fn parse_json_lines<T: DeserializeOwned>(text: &str, what: &str) -> Result<Vec<T>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| format!("{what} line {}: {line}", i + 1))
        })
        .collect()
}

/// Reads a JSON-lines file into `T`s; every non-empty line must parse.
pub(crate) fn read_json_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    parse_json_lines(&read_text(path)?, &path.display().to_string())
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

    /// The file name of this copy of the state file `name`.
    pub(crate) fn file_name(self, name: &str) -> String {
        match self {
            Self::Main => name.to_owned(),
            Self::Backup => format!("{name}.bak"),
        }
    }
}

/// Whether `paper/<name>` or its `.bak` copy exists.
pub(crate) fn state_exists(paper: &Path, name: &str) -> bool {
    [StateCopy::Main, StateCopy::Backup]
        .iter()
        .any(|copy| paper.join(copy.file_name(name)).exists())
}

/// The `schema_version` the current build writes into `paper/<name>`: 2 for the broker's
/// account (isolated margin), 1 for every other state file.
pub(crate) fn current_schema(name: &str) -> i64 {
    if name == "broker_state.json" { 2 } else { 1 }
}

/// Loads `paper/<name>` the way the session does: the main file, else `<name>.bak`; the
/// value must be an object with the [`current_schema`] version that reads as `T`.
pub(crate) fn load_state<T: DeserializeOwned>(paper: &Path, name: &str) -> Result<(T, StateCopy)> {
    let mut problems = Vec::new();
    for copy in [StateCopy::Main, StateCopy::Backup] {
        let path = paper.join(copy.file_name(name));
        if !path.exists() {
            problems.push(format!("{} missing", path.display()));
            continue;
        }
        let loaded = read_json::<Value>(&path).and_then(|value| {
            let version = value.get("schema_version").and_then(Value::as_i64);
            let expected = current_schema(name);
            if version != Some(expected) {
                bail!(
                    "{} has schema_version {version:?}, expected {expected}",
                    path.display()
                );
            }
            serde_json::from_value(value)
                .with_context(|| format!("{} does not load", path.display()))
        });
        match loaded {
            Ok(state) => return Ok((state, copy)),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    Err(anyhow!(problems.join("; ")))
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
        checks.record("fds", Err(anyhow!("grew by 5 | bad")));
        assert!(!checks.all_passed());
        assert_eq!(checks.failures(), vec!["fds: grew by 5 | bad".to_owned()]);
        assert!(
            checks
                .markdown()
                .contains("| fds | **FAIL** | grew by 5 \\| bad |")
        );
        let json = serde_json::to_value(&checks).unwrap();
        assert_eq!(json[1]["passed"], Value::Bool(false));
        assert_eq!(json[1]["detail"], "grew by 5 | bad");
    }

    #[test]
    fn state_falls_back_to_the_backup_and_checks_the_schema() {
        let dir = std::env::temp_dir().join(format!("xtask-state-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("s.json"), "{\"schema_version\":1,").unwrap();
        fs::write(dir.join("s.json.bak"), "{\"schema_version\":1,\"x\":2}").unwrap();
        let (value, copy) = load_state::<Value>(&dir, "s.json").unwrap();
        assert_eq!(copy, StateCopy::Backup);
        assert_eq!(value["x"], 2);
        fs::write(dir.join("s.json"), "{\"schema_version\":2}").unwrap();
        fs::remove_file(dir.join("s.json.bak")).unwrap();
        let err = load_state::<Value>(&dir, "s.json").unwrap_err().to_string();
        assert!(err.contains("schema_version Some(2)"), "{err}");
        fs::write(dir.join("broker_state.json"), "{\"schema_version\":2}").unwrap();
        assert!(load_state::<Value>(&dir, "broker_state.json").is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }
}
