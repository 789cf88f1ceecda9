//! Replaying `paper/events.jsonl` against the broker's state file, for `cargo xtask crash`.
//!
//! The account's money facts are a fold over the journal: a `fill` opens the position with
//! its id, side and quantity; an `exit` closes it (one more trade, `pnl_net` added to the
//! balance and the realized total); `funding_applied` adds its `amount` to the balance and
//! the funding total. After a SIGKILL the state file must sit on that fold of the killed
//! run's journal segment, starting from the state the run restored: at its end (in step),
//! at an earlier point (the journal ahead: it was written first), or one unjournaled fill,
//! exit and/or funding payment past its end (the state ahead: the session saves the state
//! containing a money event *before* journaling it, so a kill in between leaves the journal
//! one step behind). `crash.rs` decides when each is allowed. Amounts are `rust_decimal`
//! decimals, added exactly with overflow checked (no `f64`).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;

use crate::run_files::{BrokerState, JournalEvent, JournalLine};

/// The open position as the journal and the state file both describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OpenPosition {
    pub(crate) client_order_id: String,
    pub(crate) side: String,
    pub(crate) qty: Decimal,
}

/// The account facts compared between the fold and the state file (decimals compare by
/// value: `10000.00` equals `10000`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Book {
    pub(crate) position: Option<OpenPosition>,
    pub(crate) trades: i64,
    /// The realized balance.
    pub(crate) balance: Decimal,
    /// Σ `pnl_net` of closed trades.
    pub(crate) realized: Decimal,
    /// Σ funding cash flows.
    pub(crate) funding: Decimal,
}

impl Book {
    /// A fresh account.
    pub(crate) fn fresh(starting_balance: Decimal) -> Book {
        Book {
            position: None,
            trades: 0,
            balance: starting_balance,
            realized: Decimal::ZERO,
            funding: Decimal::ZERO,
        }
    }

    /// The facts of a `broker_state.json`.
    pub(crate) fn from_state(state: &BrokerState) -> Result<Book> {
        let position = match &state.position {
            None => None,
            Some(p) => Some(OpenPosition {
                client_order_id: p.client_order_id.clone(),
                side: p.side.clone(),
                qty: p
                    .lots
                    .iter()
                    .try_fold(Decimal::ZERO, |sum, lot| sum.checked_add(lot.qty))
                    .context("lot qty overflow")?,
            }),
        };
        Ok(Book {
            position,
            trades: state.counters.trades,
            balance: state.balance,
            realized: state.realized_net_total,
            funding: state.funding_total,
        })
    }

    /// One line: `flat` or `long 0.0123 (id)`, trades and balance.
    pub(crate) fn describe(&self) -> String {
        let position = self.position.as_ref().map_or_else(
            || "flat".to_owned(),
            |p| format!("{} {} ({})", p.side, p.qty.normalize(), p.client_order_id),
        );
        format!(
            "{position}, {} trades, balance {}",
            self.trades,
            self.balance.normalize()
        )
    }
}

/// `a + b`, or an error naming `what` when the sum leaves `Decimal`'s range.
fn add(a: Decimal, b: Decimal, what: &str) -> Result<Decimal> {
    a.checked_add(b).with_context(|| format!("{what} overflow"))
}

/// The broker's own ledger identity: `balance = starting_balance + realized_net_total +
/// funding_total`.
pub(crate) fn ledger_consistent(state: &BrokerState) -> Result<()> {
    let sum = add(
        add(state.starting_balance, state.realized_net_total, "ledger")?,
        state.funding_total,
        "ledger",
    )?;
    if sum == state.balance {
        Ok(())
    } else {
        bail!(
            "balance {} != starting_balance + realized_net_total + funding_total = {}",
            state.balance.normalize(),
            sum.normalize()
        )
    }
}

/// Applies one money event to `book`.
pub(crate) fn apply(book: &Book, line: &JournalLine) -> Result<Book> {
    let mut next = book.clone();
    let seq = line.seq.unwrap_or(-1);
    match &line.event {
        JournalEvent::Fill {
            client_order_id: id,
            side,
            qty,
            ..
        } => {
            next.position = Some(match &book.position {
                None => OpenPosition {
                    client_order_id: id.clone(),
                    side: side.clone(),
                    qty: *qty,
                },
                // A later fill of the same order (a resting remainder) adds to the position.
                Some(open) if open.client_order_id == *id => OpenPosition {
                    qty: add(open.qty, *qty, "qty")?,
                    ..open.clone()
                },
                Some(open) => bail!(
                    "seq {seq}: fill of {id} while {} is open",
                    open.client_order_id
                ),
            });
        }
        JournalEvent::Exit {
            client_order_id: id,
            pnl_net,
            ..
        } => {
            match &book.position {
                Some(open) if open.client_order_id == *id => {}
                other => bail!("seq {seq}: exit of {id} while the position is {other:?}"),
            }
            next.position = None;
            next.trades += 1;
            next.balance = add(book.balance, *pnl_net, "balance")?;
            next.realized = add(book.realized, *pnl_net, "realized")?;
        }
        JournalEvent::FundingApplied { amount } => {
            next.balance = add(book.balance, *amount, "balance")?;
            next.funding = add(book.funding, *amount, "funding")?;
        }
        JournalEvent::SessionStarted { .. }
        | JournalEvent::DowntimeDetected { .. }
        | JournalEvent::CatchUpFinished { .. }
        | JournalEvent::Other => {}
    }
    Ok(next)
}

/// How a state file relates to the killed run's journal segment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// The state is the fold of every money event of the segment.
    InStep {
        /// Money events in the segment.
        events: usize,
    },
    /// The journal holds money events the state does not (journal written first).
    JournalAhead {
        /// Money events the state reflects.
        reflected: usize,
        /// The events after them.
        ahead: Vec<JournalLine>,
    },
    /// The state holds one fill and/or one exit the journal does not (state written first,
    /// killed before the journal line).
    StateAhead {
        /// Money events in the segment.
        events: usize,
        /// What the state has that the journal lacks.
        unjournaled: String,
    },
}

/// Folds `segment`'s money events over `base` and finds where `state` sits: at the end, at
/// an earlier point (journal ahead), or one unjournaled fill/exit past the end (state
/// ahead). `journaled_fills` are the ids with a `fill` line anywhere in the journal.
pub(crate) fn place_state(
    base: &Book,
    segment: &[JournalLine],
    state: &Book,
    journaled_fills: &BTreeSet<String>,
) -> Result<Placement> {
    let money: Vec<&JournalLine> = segment.iter().filter(|e| e.is_money_event()).collect();
    let mut books = vec![base.clone()];
    for event in &money {
        let next = apply(books.last().context("empty fold")?, event)?;
        books.push(next);
    }
    let end = books.last().context("empty fold")?;
    if let Some(k) = books.iter().rposition(|b| b == state) {
        return Ok(if k == money.len() {
            Placement::InStep { events: k }
        } else {
            Placement::JournalAhead {
                reflected: k,
                ahead: money[k..].iter().map(|e| (*e).clone()).collect(),
            }
        });
    }
    let unjournaled_fill = |p: &OpenPosition| !journaled_fills.contains(&p.client_order_id);
    // A funding payment is held for the write-ahead save like a fill or exit: the state may
    // hold one the journal lacks. Credit it to the fold's end, then compare the rest.
    let funding_delta = state
        .funding
        .checked_sub(end.funding)
        .context("funding overflow")?;
    let end = if funding_delta.is_zero() {
        end.clone()
    } else {
        Book {
            balance: add(end.balance, funding_delta, "balance")?,
            funding: state.funding,
            ..end.clone()
        }
    };
    let funding_note = (!funding_delta.is_zero())
        .then(|| format!("funding of {} not journaled", funding_delta.normalize()));
    let (position_note, balance_must_match) =
        match (state.trades - end.trades, &end.position, &state.position) {
            (0, old, new) if old == new => (None, true),
            (0, None, Some(new)) if unjournaled_fill(new) => (
                Some(format!("fill of {} not journaled", new.client_order_id)),
                true,
            ),
            (1, Some(old), None) => (
                Some(format!("exit of {} not journaled", old.client_order_id)),
                false,
            ),
            (1, Some(old), Some(new))
                if new.client_order_id != old.client_order_id && unjournaled_fill(new) =>
            {
                (
                    Some(format!(
                        "exit of {} and fill of {} not journaled",
                        old.client_order_id, new.client_order_id
                    )),
                    false,
                )
            }
            _ => (None, false),
        };
    let balance_ok = !balance_must_match || state.balance == end.balance;
    let unjournaled = match (position_note, funding_note) {
        _ if !balance_ok => None,
        (Some(p), Some(f)) => Some(format!("{p}, {f}")),
        (Some(p), None) => Some(p),
        (None, Some(f)) if state.position == end.position && state.trades == end.trades => Some(f),
        _ => None,
    };
    match unjournaled {
        Some(unjournaled) => Ok(Placement::StateAhead {
            events: money.len(),
            unjournaled,
        }),
        None => bail!(
            "the state ({}) matches no point of the journal fold from {} over {} money events, nor one unjournaled fill/exit after it (fold ends at {})",
            state.describe(),
            base.describe(),
            money.len(),
            end.describe()
        ),
    }
}

/// Client order ids with a `fill` line in the journal.
pub(crate) fn filled_ids(journal: &[JournalLine]) -> BTreeSet<String> {
    journal
        .iter()
        .filter(|line| line.kind() == "fill")
        .filter_map(|line| line.client_order_id().map(str::to_owned))
        .collect()
}

/// Client order ids with more than one `kind` line (`fill` or `exit`) in the whole journal.
pub(crate) fn repeated_ids(journal: &[JournalLine], kind: &str) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in journal.iter().filter(|line| line.kind() == kind) {
        if let Some(id) = line.client_order_id() {
            *counts.entry(id.to_owned()).or_default() += 1;
        }
    }
    counts.retain(|_, n| *n > 1);
    counts
}

/// Parses an RFC 3339 time (`2026-05-20T01:02:03.456Z`) to epoch milliseconds.
pub(crate) fn rfc3339_ms(text: &str) -> Option<i64> {
    let time =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests;
