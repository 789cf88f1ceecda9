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
    figment.extract().map_err(|first| {
        // serde stops at the first problem; every key given is checked on its own so that
        // all of them are reported at once.
        let mut lines = every_problem(&figment);
        if lines.is_empty() {
            lines = first.into_iter().map(|err| describe(&figment, &err)).collect();
        }
        Failure::config(
            format!("invalid configuration:\n  {}", lines.join("\n  ")),
            "the keys are the fields of RawRunConfig (crates/session/src/config.rs); tables: [setups], [sma_cross], [margin], [plausibility], [alerts], [logs]",
        )
    })
}

/// Every key of the merged layers that cannot be read on its own (unknown, or of the wrong
/// type): each is layered alone over the defaults and extracted. One line per problem, in
/// key order, without repeats (every key of a misspelt table reports the table once).
fn every_problem(figment: &Figment) -> Vec<String> {
    let Ok(data) = figment.data() else {
        return Vec::new();
    };
    let mut leaves = Vec::new();
    for dict in data.values() {
        collect_leaves("", dict, &mut leaves);
    }
    let mut lines: Vec<String> = Vec::new();
    for (key, value) in leaves {
        let alone = Figment::from(Serialized::defaults(RawRunConfig::default()))
            .merge(Serialized::default(&key, value));
        if let Err(errors) = alone.extract::<RawRunConfig>() {
            for err in errors {
                let line = describe(figment, &err);
                if !lines.contains(&line) {
                    lines.push(line);
                }
            }
        }
    }
    lines
}

/// `name` under the table at the dotted `prefix` (`setups` + `risk_frac`).
pub(crate) fn dotted_key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// `(dotted key, value)` of every leaf under `dict`.
fn collect_leaves(prefix: &str, dict: &Dict, out: &mut Vec<(String, Value)>) {
    for (name, value) in dict {
        let key = dotted_key(prefix, name);
        match value {
            Value::Dict(_, inner) if !inner.is_empty() => collect_leaves(&key, inner, out),
            _ => out.push((key, value.clone())),
        }
    }
}

/// One problem as the user reads it: the key, what is wrong (with the nearest known key for
/// a typo) and where the value came from — the file and line, the variable, or the flag.
fn describe(figment: &Figment, err: &figment::Error) -> String {
    let key = err.path.join(".");
    // The path of an unknown key ends with the key itself.
    let shown_key = match &err.kind {
        figment::error::Kind::UnknownField(field, _) if key.is_empty() => field.clone(),
        _ => key.clone(),
    };
    let origin = figment
        .find_metadata(&shown_key)
        .or(err.metadata.as_ref())
        .map_or_else(String::new, |m| origin_of(m, &shown_key));
    // A typo gets the nearest key instead of the list of every key.
    let kind = match &err.kind {
        figment::error::Kind::UnknownField(field, expected) => did_you_mean(field, expected)
            .map_or_else(
                || err.kind.to_string(),
                |near| format!("unknown key `{field}`; did you mean `{near}`?"),
            ),
        other => other.to_string(),
    };
    if key.is_empty() {
        format!("{kind} ({origin})")
    } else {
        format!("`{key}`: {kind} ({origin})")
    }
}

/// Where `key` came from: `TOML file PATH:LINE`, `` `LA_` environment variable `LA_X` ``,
/// `--set`, `--grid`, or the layer's name.
fn origin_of(metadata: &Metadata, key: &str) -> String {
    match &metadata.source {
        Some(figment::Source::File(path)) => {
            let line = std::fs::read_to_string(path)
                .ok()
                .and_then(|text| toml_line(&text, key));
            match line {
                Some(line) => format!("{} {}:{line}", metadata.name, path.display()),
                None => format!("{} {}", metadata.name, path.display()),
            }
        }
        _ if metadata.name.contains("environment") => format!(
            "{} LA_{}",
            metadata.name,
            key.replace('.', "__").to_ascii_uppercase()
        ),
        _ => metadata.name.to_string(),
    }
}

/// The 1-based line of the dotted `key` in the TOML `text` (the key itself, or the nearest
/// table of it that the text holds), if the text parses.
fn toml_line(text: &str, key: &str) -> Option<usize> {
    let document = toml_edit::ImDocument::parse(text).ok()?;
    let mut table = document.as_table();
    let mut span = None;
    for part in key.split('.') {
        let Some((found, item)) = table.get_key_value(part) else {
            break;
        };
        span = found.span().or_else(|| item.span()).or(span);
        match item.as_table_like() {
            Some(_) if item.is_table() => table = item.as_table()?,
            _ => break,
        }
    }
    let start = span?.start;
    Some(text[..start].matches('\n').count() + 1)
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

/// `text` as one TOML value, if it is one. Rebuilt untagged, so that the value is
/// attributed to the layer that carries it (`--set`), not to the scratch parse.
fn toml_value(text: &str) -> Option<Value> {
    let document: Dict = Figment::from(Toml::string(&format!("value = {text}")))
        .extract()
        .ok()?;
    Value::serialize(document.get("value")?).ok()
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
