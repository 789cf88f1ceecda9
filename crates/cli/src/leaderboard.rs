//! The sweep's leaderboard: one [`Row`] of figures per parameter set, a total order on them
//! ([`rank`]: the objective, best first, then grid order), and the files a sweep directory
//! holds — `leaderboard.csv`, a self-contained sortable `leaderboard.html` and `sweep.json`
//! (the rows and what produced them, which `sweep merge` joins).
//!
//! **Invariant: the CSV is a function of the rows.** Nothing in it depends on the thread
//! that ran a set, the time, the sweep's directory or the shard that produced a row, so the
//! same grid over the same data gives a byte-identical `leaderboard.csv` however many threads
//! ran it and however it was sharded and merged. Figures are written in full (a `Decimal`'s
//! exact digits, an `f64`'s shortest round-trip text) so that rows read back from
//! `sweep.json` sort and print exactly as the rows that were written.

use std::cmp::Ordering;

use la_core::Decimal;
use la_session::{RunResults, walk_forward::ObjectiveMetric};
use serde::{Deserialize, Serialize};

use crate::{Failure, output_dir::csv_line};

/// One parameter set's figures on the sweep's candles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Row {
    /// Its position in the grid's full expansion (0-based): the tie-break, and the name a
    /// shard gives it.
    pub(crate) set: usize,
    /// The value of each grid key, in the grid's key order.
    pub(crate) values: Vec<String>,
    /// The objective's value (`None`: undefined for this run, ranked last).
    #[serde(with = "float_text")]
    pub(crate) score: Option<f64>,
    /// Ending minus starting equity (trades and funding).
    pub(crate) net_pnl: Decimal,
    #[serde(with = "float_text")]
    pub(crate) sharpe: Option<f64>,
    #[serde(with = "float_text")]
    pub(crate) sortino: Option<f64>,
    pub(crate) max_drawdown: Decimal,
    pub(crate) max_drawdown_frac: Decimal,
    pub(crate) profit_factor: Option<Decimal>,
    pub(crate) trades: u64,
    pub(crate) exposure: Decimal,
    pub(crate) fees: Decimal,
    pub(crate) funding: Decimal,
}

impl Row {
    /// The row of set `set` (with `values`) whose run produced `results`.
    pub(crate) fn new(
        set: usize,
        values: Vec<String>,
        objective: ObjectiveMetric,
        results: &RunResults,
    ) -> Self {
        Self {
            set,
            values,
            score: objective.of(results),
            net_pnl: results.net_pnl,
            sharpe: results.sharpe,
            sortino: results.sortino,
            max_drawdown: results.max_drawdown,
            max_drawdown_frac: results.max_drawdown_frac,
            profit_factor: results.profit_factor,
            trades: results.trades,
            exposure: results.exposure,
            fees: results.fees,
            funding: results.funding,
        }
    }
}

/// `Option<f64>` as its shortest round-trip text, so a row read back is bit-identical.
mod float_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    #[allow(clippy::ref_option)]
    pub(super) fn serialize<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_some(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| text.parse::<f64>().map_err(D::Error::custom))
            .transpose()
    }
}

/// Sorts `rows` best first: the higher score, a defined score before an undefined one, then
/// the lower grid position. A total order, so the result never depends on the input order.
pub(crate) fn rank(rows: &mut [Row]) {
    rows.sort_by(|a, b| {
        match (a.score, b.score) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then(a.set.cmp(&b.set))
    });
}

/// A sweep directory's record of itself: what was swept and every row, best first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SweepRecord {
    /// The grid's keys (the parameter columns).
    pub(crate) keys: Vec<String>,
    /// What ranks the rows.
    pub(crate) objective: ObjectiveMetric,
    /// How many sets the grid expands to.
    pub(crate) grid_sets: usize,
    /// `--random N` with its seed, when the sets were sampled.
    pub(crate) random: Option<RandomSample>,
    /// How many sets were selected (all, or the sample) before sharding.
    pub(crate) selected: usize,
    /// The slice of the selection this directory evaluated (`None`: all of it).
    pub(crate) shard: Option<Shard>,
    /// Candles every set ran over.
    pub(crate) candles: usize,
    /// Whether funding was modelled (`--funding-rate`, `--funding FILE`, the exchange's
    /// history); if not, the funding column says so.
    pub(crate) funding_modelled: bool,
    /// The best set's run directory, as written (`None` when no run was written here).
    pub(crate) best_run: Option<String>,
    /// The rows, best first.
    pub(crate) rows: Vec<Row>,
}

/// `--random N`: N distinct sets drawn with `seed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RandomSample {
    pub(crate) sets: usize,
    pub(crate) seed: u64,
}

/// `--shard K/N`: the K-th (0-based) of N slices of the selected sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Shard {
    pub(crate) index: usize,
    pub(crate) count: usize,
}

impl Shard {
    /// Parses `K/N` (0 ≤ K < N).
    ///
    /// # Errors
    /// A usage error naming `--shard` and the value.
    pub(crate) fn parse(text: &str) -> Result<Self, Failure> {
        let parsed = text
            .split_once('/')
            .and_then(|(k, n)| Some((k.trim().parse::<usize>().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if index < count => Ok(Self { index, count }),
            _ => Err(Failure::config(
                format!("`--shard`: {text:?} is not K/N with 0 ≤ K < N"),
                "e.g. --shard 0/4 … --shard 3/4 (K is a Kubernetes JOB_COMPLETION_INDEX or a Slurm SLURM_ARRAY_TASK_ID from 0)",
            )),
        }
    }

    /// Whether the `position`-th selected set (0-based, in grid order) is this shard's:
    /// every N-th set, so each shard gets a spread of the grid and the slices partition it.
    pub(crate) fn owns(self, position: usize) -> bool {
        position % self.count == self.index
    }
}

const FIGURE_COLUMNS: [&str; 11] = [
    "net_pnl",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_frac",
    "profit_factor",
    "trades",
    "exposure",
    "fees",
    "funding",
    "score",
];

fn optional<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(String::new, |v| v.to_string())
}

impl SweepRecord {
    /// Every column name, in order: rank, set, the grid keys, the figures.
    fn header(&self) -> Vec<String> {
        ["rank", "set"]
            .into_iter()
            .map(str::to_owned)
            .chain(self.keys.iter().cloned())
            .chain(FIGURE_COLUMNS.map(str::to_owned))
            .collect()
    }

    /// Each row's cells, in [`Self::header`] order (rank from 1).
    fn cells(&self) -> impl Iterator<Item = Vec<String>> + '_ {
        self.rows.iter().enumerate().map(|(rank, row)| {
            [(rank + 1).to_string(), row.set.to_string()]
                .into_iter()
                .chain(row.values.iter().cloned())
                .chain([
                    row.net_pnl.to_string(),
                    optional(row.sharpe),
                    optional(row.sortino),
                    row.max_drawdown.to_string(),
                    row.max_drawdown_frac.to_string(),
                    optional(row.profit_factor),
                    row.trades.to_string(),
                    row.exposure.to_string(),
                    row.fees.to_string(),
                    if self.funding_modelled {
                        row.funding.to_string()
                    } else {
                        "not modelled".into()
                    },
                    optional(row.score),
                ])
                .collect()
        })
    }

    /// `leaderboard.csv`: a header, then one line per set, best first.
    pub(crate) fn csv(&self) -> String {
        let mut out = String::new();
        for line in std::iter::once(self.header()).chain(self.cells()) {
            out.push_str(&csv_line(line));
        }
        out
    }

    /// `leaderboard.html`: the same table, sortable by any column with a click (an inline
    /// script; the page loads nothing).
    pub(crate) fn html(&self, title: &str) -> String {
        let escape = la_report::escape;
        let mut out =
            String::from("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
        out.push_str(&format!("<title>{}</title>\n", escape(title)));
        out.push_str(PAGE_STYLE);
        out.push_str("</head><body>\n");
        out.push_str(&format!("<h1>{}</h1>\n<p>", escape(title)));
        let mut facts = vec![
            format!(
                "{} of {} grid sets, ranked by {} (best first, then grid order)",
                self.rows.len(),
                self.grid_sets,
                self.objective.as_str()
            ),
            format!("{} candles", self.candles),
        ];
        if let Some(random) = self.random {
            facts.push(format!(
                "{} sets sampled with seed {}",
                random.sets, random.seed
            ));
        }
        if let Some(shard) = self.shard {
            facts.push(format!("shard {}/{}", shard.index, shard.count));
        }
        if !self.funding_modelled {
            facts.push("funding not modelled (no funding source)".into());
        }
        if let Some(best) = &self.best_run {
            facts.push(format!("best set's run: {best}"));
        }
        out.push_str(&escape(&facts.join(" · ")));
        out.push_str("</p>\n<p class=\"hint\">Click a column heading to sort by it; click again to reverse. <code>#sort=net_pnl</code> (or <code>#sort=-net_pnl</code>, descending) after the address opens the page sorted.</p>\n");
        out.push_str("<table id=\"board\"><thead><tr>");
        for name in self.header() {
            out.push_str(&format!("<th>{}</th>", escape(&name)));
        }
        out.push_str("</tr></thead><tbody>\n");
        for cells in self.cells() {
            out.push_str("<tr>");
            for cell in cells {
                out.push_str(&format!("<td>{}</td>", escape(&cell)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
        out.push_str(SORT_SCRIPT);
        out.push_str("</body></html>\n");
        out
    }
}

impl Row {
    /// The figures a parameter can change, to tell whether it changed any.
    fn figures(&self) -> (Decimal, u64, Decimal, Decimal) {
        (self.net_pnl, self.trades, self.fees, self.max_drawdown)
    }
}

impl SweepRecord {
    /// The grid keys that changed no set's figures: among the rows that differ only in that
    /// key, every one made the same net PnL, trades, fees and drawdown (and at least two such
    /// rows exist). Usually a key the configured strategy does not read.
    pub(crate) fn inert_keys(&self) -> Vec<&str> {
        self.keys
            .iter()
            .enumerate()
            .filter(|(axis, _)| {
                let mut groups: std::collections::BTreeMap<Vec<&String>, Vec<&Row>> =
                    std::collections::BTreeMap::new();
                for row in &self.rows {
                    let others = row
                        .values
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i != axis)
                        .map(|(_, v)| v)
                        .collect();
                    groups.entry(others).or_default().push(row);
                }
                groups.values().any(|g| g.len() > 1)
                    && groups
                        .values()
                        .all(|g| g.iter().all(|r| r.figures() == g[0].figures()))
            })
            .map(|(_, key)| key.as_str())
            .collect()
    }
}

const PAGE_STYLE: &str = "<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;font-size:0.85rem}
th,td{border:1px solid #ccc;padding:0.25rem 0.5rem;text-align:right;white-space:nowrap}
th{background:#f0f0f0;cursor:pointer;user-select:none}
th.asc::after{content:' \\25B2'}th.desc::after{content:' \\25BC'}
tbody tr:nth-child(even){background:#fafafa}
.hint{color:#666;font-size:0.85rem}
</style>
";

/// Sorts the table by a clicked column (again: reversed): numbers numerically (empty cells
/// and text last), text by locale order. `#sort=COLUMN` (ascending) or `#sort=-COLUMN`
/// (descending) in the address opens the page sorted, so a sorted view can be linked.
const SORT_SCRIPT: &str = "<script>
(function(){
var table=document.getElementById('board');
var heads=table.tHead.rows[0].cells;
function key(cell){var t=cell.textContent.trim();var n=Number(t);return t!==''&&!isNaN(n)?n:null;}
function sortBy(col,asc){
Array.prototype.forEach.call(heads,function(h){h.classList.remove('asc','desc');});
heads[col].classList.add(asc?'asc':'desc');
var body=table.tBodies[0];
var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){
var x=a.cells[col],y=b.cells[col],kx=key(x),ky=key(y);
if(kx===null&&ky===null){var c=x.textContent.localeCompare(y.textContent);return asc?c:-c;}
if(kx===null)return 1;if(ky===null)return -1;
return asc?kx-ky:ky-kx;});
rows.forEach(function(r){body.appendChild(r);});
}
Array.prototype.forEach.call(heads,function(th,col){
th.addEventListener('click',function(){sortBy(col,!th.classList.contains('asc'));});
});
var m=/^#sort=(-?)(.+)$/.exec(decodeURIComponent(location.hash));
if(m){Array.prototype.forEach.call(heads,function(th,col){if(th.textContent===m[2])sortBy(col,m[1]!=='-');});}
})();
</script>
";

#[cfg(test)]
mod tests {
    use super::*;

    fn row(set: usize, score: Option<f64>) -> Row {
        Row {
            set,
            values: vec![set.to_string()],
            score,
            net_pnl: Decimal::from(set),
            sharpe: score,
            sortino: None,
            max_drawdown: Decimal::ZERO,
            max_drawdown_frac: Decimal::ZERO,
            profit_factor: None,
            trades: 1,
            exposure: Decimal::ZERO,
            fees: Decimal::ZERO,
            funding: Decimal::ZERO,
        }
    }

    #[test]
    fn rows_rank_by_score_then_undefined_last_then_grid_order_whatever_the_input_order() {
        let rows = vec![
            row(3, Some(1.5)),
            row(0, None),
            row(2, Some(2.0)),
            row(1, Some(1.5)),
            row(4, Some(-0.5)),
        ];
        let mut forward = rows.clone();
        rank(&mut forward);
        let order: Vec<usize> = forward.iter().map(|r| r.set).collect();
        assert_eq!(order, vec![2, 1, 3, 4, 0]);
        let mut backward: Vec<Row> = rows.into_iter().rev().collect();
        rank(&mut backward);
        assert_eq!(forward, backward);
    }

    #[test]
    fn a_row_read_back_from_its_record_is_bit_identical() {
        let mut original = row(7, Some(0.1 + 0.2));
        original.sortino = Some(-1.0 / 3.0);
        original.profit_factor = Some(Decimal::new(12_345, 4));
        let text = serde_json::to_string(&original).unwrap_or_default();
        let back: Row = serde_json::from_str(&text).expect("a row");
        assert_eq!(back, original);
        assert_eq!(
            back.score.map(f64::to_bits),
            original.score.map(f64::to_bits)
        );
    }

    #[test]
    fn shard_specs_are_k_of_n_from_zero_and_the_slices_partition_the_sets() {
        let shards: Vec<Shard> = (0..3)
            .map(|k| Shard::parse(&format!("{k}/3")).expect("a shard"))
            .collect();
        for position in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.owns(position)).count(), 1);
        }
        for bad in ["3/3", "1", "a/3", "1/0", "-1/3", ""] {
            let failure = Shard::parse(bad).expect_err(bad);
            assert_eq!(failure.code, 2);
            assert!(failure.report.to_string().contains(&format!("{bad:?}")));
        }
    }

    #[test]
    fn a_key_that_changed_no_figure_is_inert_and_one_that_did_is_not() {
        // Two keys: `a` moves the figures, `b` never does.
        let mut rows = Vec::new();
        for (i, (a, b)) in [("1", "x"), ("1", "y"), ("2", "x"), ("2", "y")]
            .iter()
            .enumerate()
        {
            let mut r = row(i, None);
            r.values = vec![(*a).to_owned(), (*b).to_owned()];
            r.net_pnl = Decimal::from(if *a == "1" { 10 } else { -5 });
            rows.push(r);
        }
        let mut record = SweepRecord {
            keys: vec!["a".into(), "b".into()],
            objective: ObjectiveMetric::Sharpe,
            grid_sets: 4,
            random: None,
            selected: 4,
            shard: None,
            candles: 1,
            funding_modelled: false,
            best_run: None,
            rows,
        };
        assert_eq!(record.inert_keys(), vec!["b"]);
        record.rows[3].trades = 2;
        assert!(
            record.inert_keys().is_empty(),
            "b changed the trades of a=2"
        );
    }
}
