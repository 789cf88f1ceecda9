//! Configuration layering for `run`: defaults < `--config` TOML < `LA_*` environment <
//! flags (figment), then validation. Every problem is reported at once, naming the key and
//! what is allowed.

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use la_session::{RawRunConfig, RunConfig};

use crate::{Failure, args::RunArgs};

/// Environment variables with the `LA_` prefix that are not configuration keys.
const NON_CONFIG_ENV: &[&str] = &["KILL_SWITCH", "LOG", "ALERT_WEBHOOK"];

/// Resolves and validates the run configuration.
pub(crate) fn load_run_config(args: &RunArgs) -> Result<RunConfig, Failure> {
    let mut figment = Figment::from(Serialized::defaults(RawRunConfig::default()));
    if let Some(path) = &args.config {
        if !path.is_file() {
            return Err(Failure::config(
                format!("configuration file {} does not exist", path.display()),
                "pass an existing TOML file to --config",
            ));
        }
        figment = figment.merge(Toml::file(path));
    }
    figment = figment
        .merge(Env::prefixed("LA_").ignore(NON_CONFIG_ENV))
        // The webhook URL is a secret: an environment variable keeps it out of files and `ps`.
        .merge(
            Env::raw()
                .only(&["LA_ALERT_WEBHOOK"])
                .map(|_| "alerts.webhook".into()),
        )
        .merge(Serialized::defaults(args));
    let raw: RawRunConfig = figment.extract().map_err(|errors| {
        let lines: Vec<String> = errors
            .into_iter()
            .map(|err| {
                let key = err.path.join(".");
                let origin = err.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_default();
                if key.is_empty() { format!("{} ({origin})", err.kind) } else { format!("`{key}`: {} ({origin})", err.kind) }
            })
            .collect();
        Failure::config(
            format!("invalid configuration:\n  {}", lines.join("\n  ")),
            "allowed keys: mode, source, symbol, interval, duration, dry_run, workspace, ws_url, rest_url, stale_timeout, max_clock_skew, max_catch_up, starting_balance, strategy, warmup_bars, data, speed, seed, error_budget, max_rss_mb, max_daily_drawdown, max_consecutive_losses, force_close_on_stop, latency_ms, slippage_bps, http, http_allow_remote, [alerts] webhook/format/digest_hour_utc",
        )
    })?;
    raw.validate().map_err(|issues| {
        let lines: Vec<String> = issues
            .iter()
            .map(|issue| format!("`{}`: {}", issue.key, issue.message))
            .collect();
        Failure::config(
            format!("invalid configuration:\n  {}", lines.join("\n  ")),
            "fix the keys above in the flags, LA_* variables or the --config file",
        )
    })
}
