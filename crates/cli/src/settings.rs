//! Configuration layering for every command that runs the engine (`run`, `backtest`,
//! `sweep`, `walk-forward`, `doctor`): defaults < `--config` TOML < `LA_*` environment <
//! `--set KEY=VALUE` < named flags (figment), then validation. One raw type
//! ([`RawRunConfig`]) for all of them, so a key means the same everywhere; every problem is
//! reported at once, naming the key and what is allowed.

use figment::{
    Figment, Metadata, Profile, Provider,
    providers::{Env, Format, Serialized, Toml},
    value::{Dict, Map, Value},
};
use la_session::{RawRunConfig, RunConfig};
use serde::Serialize;

use crate::{
    Failure,
    args::{ConfigArgs, RunArgs},
};

/// Environment variables with the `LA_` prefix that are not configuration keys.
const NON_CONFIG_ENV: &[&str] = &["KILL_SWITCH", "LOG", "ALERT_WEBHOOK"];

/// Resolves and validates the run configuration.
pub(crate) fn load_run_config(args: &RunArgs) -> Result<RunConfig, Failure> {
    validate(&resolve_raw(&args.layers, args)?)
}

/// The layered raw configuration: defaults, the `--config` file, `LA_*` variables (tables
/// with a double underscore: `LA_SETUPS__RISK_FRAC`), `--set` overrides, then `flags` (a
/// value that serializes to only the keys the user typed).
pub(crate) fn resolve_raw(
    layers: &ConfigArgs,
    flags: &impl Serialize,
) -> Result<RawRunConfig, Failure> {
    resolve_raw_over(layers, &Dict::new(), flags)
}

/// [`resolve_raw`] with one more layer between `--set` and the named flags: a grid's
/// parameter set (`walk-forward`, `sweep`), named `grid` in errors.
pub(crate) fn resolve_raw_over(
    layers: &ConfigArgs,
    grid_point: &Dict,
    flags: &impl Serialize,
) -> Result<RawRunConfig, Failure> {
    let mut figment = Figment::from(Serialized::defaults(RawRunConfig::default()));
    if let Some(path) = &layers.config {
        if !path.is_file() {
            return Err(Failure::config(
                format!("configuration file {} does not exist", path.display()),
                "pass an existing TOML file to --config",
            ));
        }
        figment = figment.merge(Toml::file(path));
    }
    figment = figment
        .merge(Env::prefixed("LA_").ignore(NON_CONFIG_ENV).split("__"))
        // The webhook URL is a secret: an environment variable keeps it out of files and `ps`.
        .merge(
            Env::raw()
                .only(&["LA_ALERT_WEBHOOK"])
                .map(|_| "alerts.webhook".into()),
        )
        .merge(SetOverrides::parse(&layers.set)?)
        .merge(SetOverrides {
            dict: grid_point.clone(),
            origin: "--grid",
        })
        .merge(Serialized::defaults(flags));
    figment.extract().map_err(|errors| {
        let lines: Vec<String> = errors
            .into_iter()
            .map(|err| {
                let key = err.path.join(".");
                let origin = err.metadata.as_ref().map_or_else(String::new, |m| {
                    match &m.source {
                        Some(figment::Source::File(path)) => {
                            format!("{} {}", m.name, path.display())
                        }
                        _ => m.name.to_string(),
                    }
                });
                // A typo gets the nearest key instead of the list of every key.
                let kind = match &err.kind {
                    figment::error::Kind::UnknownField(field, expected) => {
                        did_you_mean(field, expected).map_or_else(
                            || err.kind.to_string(),
                            |near| format!("unknown key `{field}`; did you mean `{near}`?"),
                        )
                    }
                    other => other.to_string(),
                };
                if key.is_empty() {
                    format!("{kind} ({origin})")
                } else {
                    format!("`{key}`: {kind} ({origin})")
                }
            })
            .collect();
        Failure::config(
            format!("invalid configuration:\n  {}", lines.join("\n  ")),
            "the keys are the fields of RawRunConfig (crates/session/src/config.rs); tables: [setups], [sma_cross], [margin], [plausibility], [alerts], [logs]",
        )
    })
}

/// The known key closest to the unknown `typed`, if one is close enough to be a typo (an edit
/// distance of at most a third of its length, and at least 1 allowed): `durration` →
/// `duration`, `setup` → `setups`.
fn did_you_mean<'a>(typed: &str, known: &[&'a str]) -> Option<&'a str> {
    let allowed = (typed.chars().count() / 3).max(1);
    known
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(typed, candidate), *candidate))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Validates a resolved raw configuration: every problem at once, exit 2.
pub(crate) fn validate(raw: &RawRunConfig) -> Result<RunConfig, Failure> {
    raw.validate().map_err(|issues| {
        let lines: Vec<String> = issues
            .iter()
            .map(|issue| format!("`{}`: {}", issue.key, issue.message))
            .collect();
        Failure::config(
            format!("invalid configuration:\n  {}", lines.join("\n  ")),
            "fix the keys above in the flags, --set, LA_* variables or the --config file",
        )
    })
}

/// The `--set KEY=VALUE` layer (and a grid's parameter set, built the same way): each value read as a TOML value (`0.005`, `true`,
/// `[5, 10]`), or as a plain string when it is not one (`strategy=sma-cross`).
struct SetOverrides {
    dict: Dict,
    /// The layer's name in errors (`--set`, `--grid`).
    origin: &'static str,
}

impl SetOverrides {
    fn parse(entries: &[String]) -> Result<Self, Failure> {
        let mut dict = Dict::new();
        for entry in entries {
            let Some((key, text)) = entry.split_once('=') else {
                return Err(Failure::config(
                    format!("--set {entry:?}: expected KEY=VALUE"),
                    "e.g. --set setups.risk_frac=0.005",
                ));
            };
            let key = key.trim();
            let well_formed = !key.is_empty()
                && key.split('.').all(|part| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                });
            if !well_formed {
                return Err(Failure::config(
                    format!("--set {entry:?}: {key:?} is not a configuration key"),
                    "keys are letters, digits and underscores, tables joined by dots: setups.risk_frac",
                ));
            }
            let value = toml_value(text.trim()).unwrap_or_else(|| Value::from(text.trim()));
            merge_into(&mut dict, key, value);
        }
        Ok(Self {
            dict,
            origin: "--set",
        })
    }
}

/// `text` as one TOML value, if it is one.
fn toml_value(text: &str) -> Option<Value> {
    let document: Dict = Figment::from(Toml::string(&format!("value = {text}")))
        .extract()
        .ok()?;
    document.get("value").cloned()
}

/// Inserts `value` at the dotted `key` of `dict`, keeping sibling keys of the same table.
pub(crate) fn merge_into(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(child, Value::Dict(..)) {
                *child = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = child {
                merge_into(inner, rest, value);
            }
        }
    }
}

impl Provider for SetOverrides {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

#[cfg(test)]
mod tests;
