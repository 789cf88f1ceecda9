//! Parameter grids for the research commands (`walk-forward`, and `sweep`): a TOML file
//! with the same tables and keys as the configuration, each key holding an array of
//! candidate values (`fast = [5, 10, 20]`) or a range table (`slow = { from = 30, to = 90,
//! step = 30 }`). A grid expands into its parameter sets — the Cartesian product of its
//! keys, in key order — each a configuration layer ([`GridPoint::layer`]) merged over the
//! base configuration, so a grid key means exactly what the same configuration key means
//! and a misspelt one is refused by the configuration's own validation.

use std::path::Path;

use figment::{
    Figment,
    providers::{Format, Toml},
    value::{Dict, Value},
};
use la_core::Decimal;
use la_session::RunConfig;

use crate::{Failure, args::ExperimentArgs, settings};

/// The most parameter sets a grid may expand to.
const MAX_POINTS: usize = 100_000;

/// One key of the grid and its candidate values, in file order.
#[derive(Clone, Debug, PartialEq)]
struct Axis {
    /// Dotted configuration key (`sma_cross.fast`).
    key: String,
    /// Candidate values (never empty).
    values: Vec<Value>,
}

/// A parsed grid: its axes in key order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Grid {
    axes: Vec<Axis>,
}

/// One parameter set of a grid.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GridPoint {
    /// `sma_cross.fast=5 sma_cross.slow=30`: what this set changes.
    pub(crate) label: String,
    /// The value of each key of the grid ([`Grid::keys`]), as a user would type it.
    pub(crate) values: Vec<String>,
    /// The same as a configuration layer (nested tables).
    pub(crate) layer: Dict,
}

fn grid_error(path: &Path, message: String) -> Failure {
    Failure::config(
        format!("grid {}: {message}", path.display()),
        "each key is an array of values (fast = [5, 10]) or a range (slow = { from = 30, to = 90, step = 30 }), under the configuration's tables",
    )
}

impl Grid {
    /// Reads and checks a grid file.
    ///
    /// # Errors
    /// A missing or unreadable file, invalid TOML, a key that is neither an array nor a
    /// range, an empty array, a bad range, an empty grid, or more than [`MAX_POINTS`] sets:
    /// each a usage error naming the key.
    pub(crate) fn load(path: &Path) -> Result<Self, Failure> {
        if !path.is_file() {
            return Err(grid_error(path, "no such file".into()));
        }
        let dict: Dict = Figment::from(Toml::file(path))
            .extract()
            .map_err(|e| grid_error(path, e.to_string()))?;
        let mut axes = Vec::new();
        collect(path, "", &dict, &mut axes)?;
        if axes.is_empty() {
            return Err(grid_error(
                path,
                "the grid is empty: it names no key".into(),
            ));
        }
        let points = axes.iter().try_fold(1usize, |n, axis| {
            n.checked_mul(axis.values.len())
                .filter(|n| *n <= MAX_POINTS)
        });
        if points.is_none() {
            return Err(grid_error(
                path,
                format!("the grid expands to more than {MAX_POINTS} parameter sets"),
            ));
        }
        Ok(Self { axes })
    }

    /// The grid's keys, in the order every set's values are listed.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.axes.iter().map(|axis| axis.key.clone()).collect()
    }

    /// Every parameter set: the Cartesian product of the axes, the last key varying fastest.
    pub(crate) fn points(&self) -> Vec<GridPoint> {
        let mut points = vec![(Vec::<String>::new(), Dict::new())];
        for axis in &self.axes {
            points = points
                .into_iter()
                .flat_map(|(labels, layer)| {
                    axis.values.iter().map(move |value| {
                        let mut labels = labels.clone();
                        labels.push(show(value));
                        let mut layer = layer.clone();
                        crate::settings::merge_into(&mut layer, &axis.key, value.clone());
                        (labels, layer)
                    })
                })
                .collect();
        }
        points
            .into_iter()
            .map(|(values, layer)| GridPoint {
                label: self
                    .axes
                    .iter()
                    .zip(&values)
                    .map(|(axis, value)| format!("{}={value}", axis.key))
                    .collect::<Vec<_>>()
                    .join(" "),
                values,
                layer,
            })
            .collect()
    }
}

impl GridPoint {
    /// The configuration this set describes: the base layers with the set merged over
    /// them (under the named flags), validated like any configuration.
    ///
    /// # Errors
    /// A usage error naming the set and the key the configuration refused.
    pub(crate) fn config(&self, experiment: &ExperimentArgs) -> Result<RunConfig, Failure> {
        let raw = settings::resolve_raw_over(&experiment.layers, &self.layer, &experiment.flags)?;
        settings::validate(&raw).map_err(|failure| {
            Failure::config(
                format!("grid set `{}`: {}", self.label, failure.report),
                "every parameter set must be a valid configuration",
            )
        })
    }
}

/// A value as a user would type it.
fn show(value: &Value) -> String {
    match value {
        Value::String(_, text) => text.clone(),
        Value::Num(_, num) => num
            .to_i128()
            .map(|n| n.to_string())
            .or_else(|| num.to_f64().map(|f| f.to_string()))
            .unwrap_or_default(),
        Value::Bool(_, b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// Walks `dict` (a table at `prefix`) and appends its axes.
fn collect(path: &Path, prefix: &str, dict: &Dict, axes: &mut Vec<Axis>) -> Result<(), Failure> {
    for (name, value) in dict {
        let key = crate::settings::dotted_key(prefix, name);
        match value {
            Value::Array(_, values) if values.is_empty() => {
                return Err(grid_error(path, format!("`{key}` has no values")));
            }
            Value::Array(_, values) => axes.push(Axis {
                key,
                // Untagged copies: the configuration's figment names them `--grid` in
                // errors (a value keeps the tag of the figment it was read with).
                values: values
                    .iter()
                    .map(|v| Value::serialize(v).unwrap_or_else(|_| v.clone()))
                    .collect(),
            }),
            Value::Dict(_, table) if table.contains_key("from") || table.contains_key("to") => {
                axes.push(Axis {
                    values: range(path, &key, table)?,
                    key,
                });
            }
            Value::Dict(_, table) => collect(path, &key, table, axes)?,
            other => {
                return Err(grid_error(
                    path,
                    format!(
                        "`{key}` is {}: a grid key holds an array of candidates or a range table",
                        show(other)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A number of a range table, exactly.
fn decimal(path: &Path, key: &str, part: &str, table: &Dict) -> Result<Decimal, Failure> {
    let number = match table.get(part) {
        Some(Value::Num(_, num)) => num
            .to_i128()
            .and_then(|n| i64::try_from(n).ok())
            .map(Decimal::from)
            .or_else(|| num.to_f64().and_then(|f| Decimal::try_from(f).ok())),
        _ => None,
    };
    number.ok_or_else(|| grid_error(path, format!("`{key}.{part}` must be a number")))
}

/// The values of a `{ from, to, step }` table: `from`, `from + step`, … up to `to`
/// inclusive, integers when all three are integers.
fn range(path: &Path, key: &str, table: &Dict) -> Result<Vec<Value>, Failure> {
    if let Some(extra) = table
        .keys()
        .find(|k| !matches!(k.as_str(), "from" | "to" | "step"))
    {
        return Err(grid_error(
            path,
            format!("`{key}.{extra}`: a range table has only from, to and step"),
        ));
    }
    let from = decimal(path, key, "from", table)?;
    let to = decimal(path, key, "to", table)?;
    let step = decimal(path, key, "step", table)?;
    if step <= Decimal::ZERO {
        return Err(grid_error(path, format!("`{key}.step` must be above zero")));
    }
    if from > to {
        return Err(grid_error(
            path,
            format!("`{key}`: from {from} is above to {to}"),
        ));
    }
    let integers = [from, to, step].iter().all(|d| d.fract().is_zero());
    let mut values = Vec::new();
    let mut value = from;
    while value <= to {
        if values.len() >= MAX_POINTS {
            return Err(grid_error(
                path,
                format!("`{key}` has more than {MAX_POINTS} values"),
            ));
        }
        values.push(if integers {
            Value::from(i64::try_from(value).unwrap_or_default())
        } else {
            // A string: the configuration reads decimals from text exactly.
            Value::from(value.normalize().to_string())
        });
        value += step;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(text: &str) -> Result<Grid, Failure> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("grid.toml");
        std::fs::write(&path, text).expect("write");
        Grid::load(&path)
    }

    fn error(text: &str) -> String {
        match grid(text) {
            Err(failure) => failure.report.to_string(),
            Ok(grid) => panic!("expected an error, got {grid:?}"),
        }
    }

    #[test]
    fn arrays_and_ranges_expand_to_their_product_in_key_order() {
        let grid = grid(
            "[sma_cross]\nfast = [5, 10]\nslow = { from = 30, to = 90, step = 30 }\n[setups]\nrisk_frac = { from = 0.005, to = 0.01, step = 0.005 }\n",
        )
        .expect("grid");
        let labels: Vec<String> = grid.points().into_iter().map(|p| p.label).collect();
        assert_eq!(labels.len(), 2 * 2 * 3);
        assert_eq!(
            labels[0],
            "setups.risk_frac=0.005 sma_cross.fast=5 sma_cross.slow=30"
        );
        assert_eq!(
            labels[11],
            "setups.risk_frac=0.01 sma_cross.fast=10 sma_cross.slow=90"
        );
        let first = &grid.points()[0].layer;
        let Some(Value::Dict(_, sma)) = first.get("sma_cross") else {
            panic!("a nested table: {first:?}");
        };
        assert_eq!(sma.get("slow").and_then(Value::to_i128), Some(30));
    }

    #[test]
    fn bad_grids_are_refused_naming_the_key() {
        assert!(error("").contains("empty"));
        assert!(error("[sma_cross]\nfast = []\n").contains("`sma_cross.fast` has no values"));
        assert!(error("[sma_cross]\nfast = 5\n").contains("`sma_cross.fast` is 5"));
        assert!(
            error("[sma_cross]\nslow = { from = 90, to = 30, step = 30 }\n")
                .contains("`sma_cross.slow`: from 90 is above to 30")
        );
        assert!(
            error("[sma_cross]\nslow = { from = 30, to = 90, step = 0 }\n")
                .contains("`sma_cross.slow.step` must be above zero")
        );
        assert!(
            error("[sma_cross]\nslow = { from = 30, to = 90, by = 3 }\n")
                .contains("`sma_cross.slow.by`")
        );
        assert!(error("a = {\n").contains("grid"));
        let missing = Grid::load(Path::new("/nonexistent/grid.toml"));
        assert!(missing.is_err_and(|f| f.report.to_string().contains("no such file")));
    }
}
