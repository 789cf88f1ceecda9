//! `cargo xtask diskfault`: real disk faults under a live session (needs root).
//!
//! The workspace's `paper/` directory (state files and journal) is a 2 MiB `tmpfs`. The
//! release binary runs on the simulator with a strategy that trades every few seconds, and:
//!
//! 1. **full disk**: once a state file exists, a filler file takes every free byte
//!    (`ENOSPC`). The session must keep running, raise the documented alert (an ERROR log
//!    line with `alert: true`, "state save failed"), leave the last good state file
//!    byte-for-byte intact with no temp file behind, and save again once the filler is
//!    deleted;
//! 2. **read-only state directory**: a read-only bind mount is stacked on `paper/`
//!    (`EROFS` for new files such as the state's temp files; `mount -o remount,ro` of the
//!    tmpfs itself is refused while the journal is open), with the same expectations, then
//!    unmounted.
//!
//! Finally the session is asked to stop (`stop.request`) and must exit 0 with
//! `state_save_failures >= 2` in its summary, every journal line must still be JSON, and the
//! only ERROR lines in the log may be the alerts and the journal's own write failures.
//! The tmpfs is always unmounted, also on failure. Without root, or where mounting is not
//! permitted, the step is skipped with a loud message.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::{
    reliability::{
        Checks, FAST_TRADING_TOML, build_binary, read_json, read_json_lines, sim_session_args,
        spawn_with_console, target_dir, verdict, wait_with_deadline, write_file,
    },
    run_files::Summary,
};

/// Kills the session and unmounts the tmpfs when dropped, whatever happened.
struct Guard {
    child: Option<Child>,
    mount: PathBuf,
    mounted: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut()
            && matches!(child.try_wait(), Ok(None))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.mounted {
            // The read-only phase stacks a bind mount on the tmpfs; unmount until neither is
            // left (at most the two layers, plus one try that fails when nothing is left).
            for _ in 0..3 {
                let ok = Command::new("umount")
                    .arg(&self.mount)
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if !ok {
                    break;
                }
            }
            if is_mount_point(&self.mount) {
                let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
            }
            println!("diskfault: unmounted {}", self.mount.display());
        }
    }
}

/// Whether `dir` is a mount point (listed in `/proc/self/mounts`).
fn is_mount_point(dir: &Path) -> bool {
    let wanted = dir.to_string_lossy();
    fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(wanted.as_ref()))
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn mount(sh: &Shell, args: &[&str], dir: &Path) -> Result<()> {
    let out = cmd!(sh, "mount {args...} {dir}").ignore_status().output()?;
    ensure!(
        out.status.success(),
        "mount {} {} failed: {}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Runs the disk-fault session.
pub(crate) fn run(sh: &Shell) -> Result<()> {
    if !is_root() {
        println!(
            "diskfault: SKIPPED — not root, cannot mount a tmpfs (run as root to prove disk-fault handling)"
        );
        return Ok(());
    }
    let binary = build_binary(sh, "release")?;
    let target = target_dir(&sh.current_dir());
    let workspace = target.join("diskfault-workspace");
    let _ = fs::remove_dir_all(&workspace);
    let paper = workspace.join("paper");
    fs::create_dir_all(&paper).with_context(|| format!("cannot create {}", paper.display()))?;
    let mut guard = Guard {
        child: None,
        mount: paper.clone(),
        mounted: false,
    };
    if let Err(e) = mount(sh, &["-t", "tmpfs", "-o", "size=2m", "tmpfs"], &paper) {
        println!("diskfault: SKIPPED — {e:#}");
        return Ok(());
    }
    guard.mounted = true;
    println!("diskfault: 2 MiB tmpfs on {}", paper.display());
    let config = target.join("diskfault.toml");
    write_file(&config, FAST_TRADING_TOML)?;
    let console = target.join("diskfault-console.log");
    let args = sim_session_args("120", "10m", &workspace, &config)?;
    guard.child = Some(spawn_with_console(&binary, &args, &console)?);
    let mut checks = Checks::default();
    if let Err(e) = phases(sh, &mut guard, &workspace, &mut checks) {
        checks.record("disk-fault phases ran", Err(e));
    }
    drop(guard);
    final_checks(&workspace, &mut checks);
    if checks.all_passed() {
        println!("diskfault: all {} checks passed", checks.0.len());
        Ok(())
    } else {
        bail!(
            "diskfault failed:\n  {}\n(console: {})",
            checks.failures().join("\n  "),
            console.display()
        )
    }
}

/// Polls `ready` every 100 ms; the seconds it took, or an error after `limit`.
fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) -> Result<String> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return Ok(format!("after {:.1} s", start.elapsed().as_secs_f64()));
        }
        thread::sleep(Duration::from_millis(100));
    }
    bail!("timed out after {} s waiting for {what}", limit.as_secs())
}

fn alive(guard: &mut Guard) -> bool {
    guard
        .child
        .as_mut()
        .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
}

fn alert_lines(workspace: &Path) -> usize {
    fs::read_to_string(workspace.join("logs").join("system.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"alert\":true") && l.contains("\"level\":\"ERROR\""))
        .count()
}

fn temp_files(paper: &Path) -> Vec<String> {
    fs::read_dir(paper)
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n.contains(".tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Fills the filesystem of `dir` with `dir/filler` until `ENOSPC`; returns the bytes written.
fn fill_disk(dir: &Path) -> Result<u64> {
    let path = dir.join("filler");
    let mut file = fs::File::create(&path).context("cannot create filler")?;
    let chunk = vec![0xA5u8; 16 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => bail!("filler write failed with {e}, not ENOSPC"),
        }
    }
    // The last partial block: single bytes until even those do not fit.
    while file.write(&[0u8]).is_ok_and(|n| n == 1) {
        written += 1;
    }
    Ok(written)
}

/// One fault phase: apply, wait for the alert, check the last good file, lift, wait for a
/// successful save.
fn phase(
    guard: &mut Guard,
    workspace: &Path,
    checks: &mut Checks,
    name: &str,
    apply: &dyn Fn(&Path) -> Result<String>,
    lift: &dyn Fn(&Path) -> Result<()>,
) -> Result<()> {
    let paper = workspace.join("paper");
    let state = paper.join("broker_state.json");
    let alerts_before = alert_lines(workspace);
    let detail = apply(&paper)?;
    let last_good = fs::read(&state).context("cannot read the state")?;
    println!("diskfault: {name}: {detail}");
    checks.record(
        &format!("{name}: state-save failure alerted (ERROR, alert=true)"),
        wait_for(
            &format!("a state-save alert under {name}"),
            Duration::from_secs(100),
            || alert_lines(workspace) > alerts_before,
        ),
    );
    thread::sleep(Duration::from_secs(3));
    checks.record(
        &format!("{name}: session keeps running"),
        if alive(guard) {
            Ok("running".into())
        } else {
            Err(anyhow!("the session exited"))
        },
    );
    let now = fs::read(&state).unwrap_or_default();
    let intact = if now == last_good {
        serde_json::from_slice::<Value>(&now)
            .map(|_| format!("{} bytes, unchanged, parses", now.len()))
            .context("the last good state no longer parses")
    } else {
        Err(anyhow!("the state file changed while saves were failing"))
    };
    checks.record(&format!("{name}: last good state file intact"), intact);
    let leftovers = temp_files(&paper);
    checks.record(
        &format!("{name}: no temp file left behind"),
        verdict(
            leftovers.is_empty(),
            if leftovers.is_empty() {
                "none".into()
            } else {
                format!("{leftovers:?}")
            },
        ),
    );
    lift(&paper)?;
    checks.record(
        &format!("{name}: a later save succeeds after the fault is lifted"),
        wait_for(
            &format!("a successful save after {name}"),
            Duration::from_secs(100),
            || {
                fs::read(&state)
                    .is_ok_and(|b| b != last_good && serde_json::from_slice::<Value>(&b).is_ok())
            },
        ),
    );
    Ok(())
}

fn phases(sh: &Shell, guard: &mut Guard, workspace: &Path, checks: &mut Checks) -> Result<()> {
    let state = workspace.join("paper").join("broker_state.json");
    let first_save = wait_for("the first state save", Duration::from_secs(120), || {
        state.exists()
    });
    let saved = first_save.is_ok();
    checks.record("first state save", first_save);
    ensure!(saved, "no state file was ever saved");
    phase(
        guard,
        workspace,
        checks,
        "full disk (ENOSPC)",
        &|paper| fill_disk(paper).map(|n| format!("filled with {n} bytes")),
        &|paper| fs::remove_file(paper.join("filler")).context("cannot delete the filler"),
    )?;
    // A read-only bind mount stacked on the tmpfs: new files (the state's temp files) get
    // EROFS, while descriptors opened before (the journal) keep writing to the tmpfs below.
    // (`mount -o remount,ro` on the tmpfs itself is refused while the journal is open.)
    phase(
        guard,
        workspace,
        checks,
        "read-only state dir (EROFS)",
        &|paper| {
            mount(sh, &["--bind", &paper.to_string_lossy()], paper)?;
            mount(sh, &["-o", "remount,bind,ro"], paper)?;
            Ok("read-only bind mount over paper/".into())
        },
        &|paper| {
            cmd!(sh, "umount {paper}")
                .run()
                .context("umount of the read-only bind failed")
        },
    )?;
    write_file(&workspace.join("stop.request"), b"diskfault\n")?;
    let child = guard.child.as_mut().context("no session")?;
    let status = wait_with_deadline(child, Duration::from_secs(60))
        .context("the session did not stop within 60 s of stop.request")?;
    checks.record(
        "clean exit after the faults",
        verdict(status.success(), status.to_string()),
    );
    // Checked before the tmpfs (and the files on it) goes away; copies are kept for review.
    let paper = workspace.join("paper");
    let evidence = workspace.join("paper-copy");
    let _ = fs::create_dir_all(&evidence);
    for name in ["events.jsonl", "broker_state.json", "unified_state.json"] {
        let _ = fs::copy(paper.join(name), evidence.join(name));
    }
    checks.record(
        "every journal line is still JSON",
        read_json_lines::<Value>(&paper.join("events.jsonl")).map(|lines| {
            let failed = lines
                .iter()
                .filter(|l| l.get("kind").and_then(Value::as_str) == Some("state_save_failed"))
                .count();
            format!(
                "{} lines, {failed} state_save_failed events journaled",
                lines.len()
            )
        }),
    );
    Ok(())
}

fn final_checks(workspace: &Path, checks: &mut Checks) {
    let summary = read_json::<Summary>(&workspace.join("runs").join("latest").join("summary.json"));
    checks.record(
        "summary counts the failed saves",
        summary.and_then(|s| {
            let failures = s.state_save_failures.unwrap_or(0);
            let reason = s.stopped_reason.as_deref().unwrap_or("?");
            ensure!(
                failures >= 2,
                "state_save_failures {failures} (expected >= 2)"
            );
            Ok(format!(
                "state_save_failures {failures}, stopped_reason {reason}"
            ))
        }),
    );
    // The tmpfs is gone now; the journal and state files went with it. Their checks ran
    // while mounted (above); here only the log on the real disk remains.
    let text = fs::read_to_string(workspace.join("logs").join("system.jsonl")).unwrap_or_default();
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"level\":\"ERROR\""))
        .collect();
    let unexpected: Vec<&str> = errors
        .iter()
        .copied()
        .filter(|l| {
            !l.contains("\"alert\":true")
                && !l.contains("journal write failed")
                && !l.contains("journal flush failed")
        })
        .collect();
    checks.record(
        "only alerts and journal write failures at ERROR",
        verdict(
            unexpected.is_empty(),
            if unexpected.is_empty() {
                format!("{} ERROR lines, all expected", errors.len())
            } else {
                unexpected
                    .iter()
                    .take(3)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" / ")
            },
        ),
    );
}
