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
//! one step behind). `crash.rs` decides when each is allowed. Amounts are added exactly with a small
//! fixed-point decimal (no `f64`).

use std::collections::{BTreeMap, BTreeSet};

use crate::json::{Json, normalize_decimal};

/// An exact decimal: `mantissa × 10^-scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dec {
    mantissa: i128,
    scale: u32,
}

impl Dec {
    pub(crate) const ZERO: Dec = Dec {
        mantissa: 0,
        scale: 0,
    };

    /// Parses `-12.345` style text (what rust_decimal's serde writes).
    pub(crate) fn parse(text: &str) -> Option<Dec> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
            || frac.len() > 28
        {
            return None;
        }
        let all = format!("{int}{frac}");
        let magnitude: i128 = if all.is_empty() { 0 } else { all.parse().ok()? };
        Some(Dec {
            mantissa: if negative { -magnitude } else { magnitude },
            scale: u32::try_from(frac.len()).ok()?,
        })
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.mantissa
            .checked_mul(10_i128.checked_pow(scale - self.scale)?)
    }

    pub(crate) fn checked_add(self, other: Dec) -> Option<Dec> {
        let scale = self.scale.max(other.scale);
        Some(Dec {
            mantissa: self.rescale(scale)?.checked_add(other.rescale(scale)?)?,
            scale,
        })
    }

    /// Normalised text (`10000.50` → `10000.5`).
    pub(crate) fn text(self) -> String {
        let negative = self.mantissa < 0;
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        let raw = if frac.is_empty() {
            format!("{}{int}", if negative { "-" } else { "" })
        } else {
            format!("{}{int}.{frac}", if negative { "-" } else { "" })
        };
        normalize_decimal(&raw)
    }
}

/// The open position as the journal and the state file both describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OpenPosition {
    pub(crate) client_order_id: String,
    pub(crate) side: String,
    /// Normalised decimal text.
    pub(crate) qty: String,
}

/// The account facts compared between the fold and the state file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Book {
    pub(crate) position: Option<OpenPosition>,
    pub(crate) trades: i64,
    /// Normalised decimal text of the realized balance.
    pub(crate) balance: String,
    /// Σ `pnl_net` of closed trades (normalised).
    pub(crate) realized: String,
    /// Σ funding cash flows (normalised).
    pub(crate) funding: String,
}

impl Book {
    /// A fresh account.
    pub(crate) fn fresh(starting_balance: &str) -> Book {
        Book {
            position: None,
            trades: 0,
            balance: normalize_decimal(starting_balance),
            realized: "0".into(),
            funding: "0".into(),
        }
    }

    /// Reads the facts from a `broker_state.json` value.
    pub(crate) fn from_state(state: &Json) -> Result<Book, String> {
        let balance = state
            .get("balance")
            .and_then(Json::as_number_text)
            .ok_or("broker state has no balance")?;
        let trades = state
            .get("counters")
            .and_then(|c| c.get("trades"))
            .and_then(Json::as_i64)
            .ok_or("broker state has no counters.trades")?;
        let position = match state.get("position") {
            None | Some(Json::Null) => None,
            Some(p) => {
                let mut qty = Dec::ZERO;
                for lot in p.get("lots").and_then(Json::as_array).unwrap_or(&[]) {
                    let lot_qty = lot
                        .get("qty")
                        .and_then(Json::as_number_text)
                        .and_then(Dec::parse)
                        .ok_or("a position lot has no qty")?;
                    qty = qty.checked_add(lot_qty).ok_or("lot qty overflow")?;
                }
                Some(OpenPosition {
                    client_order_id: text_of(p, "client_order_id")?,
                    side: text_of(p, "side")?,
                    qty: qty.text(),
                })
            }
        };
        let decimal = |key: &str| {
            state
                .get(key)
                .and_then(Json::as_number_text)
                .map(normalize_decimal)
                .ok_or_else(|| format!("broker state has no {key}"))
        };
        Ok(Book {
            position,
            trades,
            balance: normalize_decimal(balance),
            realized: decimal("realized_net_total")?,
            funding: decimal("funding_total")?,
        })
    }

    /// One line: `flat` or `long 0.0123 (id)`, trades and balance.
    pub(crate) fn describe(&self) -> String {
        let position = self.position.as_ref().map_or_else(
            || "flat".to_owned(),
            |p| format!("{} {} ({})", p.side, p.qty, p.client_order_id),
        );
        format!(
            "{position}, {} trades, balance {}",
            self.trades, self.balance
        )
    }
}

fn text_of(value: &Json, key: &str) -> Result<String, String> {
    value
        .get(key)
        .and_then(Json::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("missing string {key:?}"))
}

fn amount(event: &Json, key: &str) -> Result<Dec, String> {
    event
        .get(key)
        .and_then(Json::as_number_text)
        .and_then(Dec::parse)
        .ok_or_else(|| format!("event without a decimal {key:?}"))
}

fn add_text(text: &str, value: Dec) -> Result<String, String> {
    Dec::parse(text)
        .and_then(|d| d.checked_add(value))
        .map(Dec::text)
        .ok_or_else(|| format!("cannot add to {text:?}"))
}

/// The broker's own ledger identity: `balance = starting_balance + realized_net_total +
/// funding_total`.
pub(crate) fn ledger_consistent(state: &Json) -> Result<(), String> {
    let get = |key: &str| {
        state
            .get(key)
            .and_then(Json::as_number_text)
            .and_then(Dec::parse)
            .ok_or_else(|| format!("broker state has no decimal {key}"))
    };
    let sum = get("starting_balance")?
        .checked_add(get("realized_net_total")?)
        .and_then(|d| d.checked_add(get("funding_total").ok()?))
        .ok_or("ledger overflow")?;
    let balance = get("balance")?;
    if sum.text() == balance.text() {
        Ok(())
    } else {
        Err(format!(
            "balance {} != starting_balance + realized_net_total + funding_total = {}",
            balance.text(),
            sum.text()
        ))
    }
}

/// Whether a journal line was written at start-up from the restored broker state's `outbox`:
/// an event the state already held when the previous run was killed (see
/// `FileSink::recover_unjournaled`). A segment fold starts from that state, so it skips
/// these; the whole-journal fold counts them.
pub(crate) fn is_recovered(event: &Json) -> bool {
    matches!(event.get("recovered"), Some(Json::Bool(true)))
}

/// Whether a journal line changes the account (`fill`, `exit`, `funding_applied`).
pub(crate) fn is_money_event(event: &Json) -> bool {
    matches!(
        event.get("kind").and_then(Json::as_str),
        Some("fill" | "exit" | "funding_applied")
    )
}

/// Applies one money event to `book`.
pub(crate) fn apply(book: &Book, event: &Json) -> Result<Book, String> {
    let mut next = book.clone();
    let kind = event.get("kind").and_then(Json::as_str).unwrap_or("");
    let seq = event.get("seq").and_then(Json::as_i64).unwrap_or(-1);
    let balance = Dec::parse(&book.balance).ok_or("unparsable balance")?;
    match kind {
        "fill" => {
            let id = text_of(event, "client_order_id")?;
            let qty = amount(event, "qty")?;
            next.position = Some(match &book.position {
                None => OpenPosition {
                    client_order_id: id,
                    side: text_of(event, "side")?,
                    qty: qty.text(),
                },
                // A later fill of the same order (a resting remainder) adds to the position.
                Some(open) if open.client_order_id == id => OpenPosition {
                    qty: Dec::parse(&open.qty)
                        .and_then(|q| q.checked_add(qty))
                        .ok_or("qty overflow")?
                        .text(),
                    ..open.clone()
                },
                Some(open) => {
                    return Err(format!(
                        "seq {seq}: fill of {id} while {} is open",
                        open.client_order_id
                    ));
                }
            });
        }
        "exit" => {
            let id = text_of(event, "client_order_id")?;
            match &book.position {
                Some(open) if open.client_order_id == id => {}
                other => {
                    return Err(format!(
                        "seq {seq}: exit of {id} while the position is {other:?}"
                    ));
                }
            }
            let pnl = amount(event, "pnl_net")?;
            next.position = None;
            next.trades += 1;
            next.balance = balance.checked_add(pnl).ok_or("balance overflow")?.text();
            next.realized = add_text(&book.realized, pnl)?;
        }
        "funding_applied" => {
            let cash = amount(event, "amount")?;
            next.balance = balance.checked_add(cash).ok_or("balance overflow")?.text();
            next.funding = add_text(&book.funding, cash)?;
        }
        _ => {}
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
        ahead: Vec<Json>,
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
    segment: &[Json],
    state: &Book,
    journaled_fills: &BTreeSet<String>,
) -> Result<Placement, String> {
    let money: Vec<&Json> = segment.iter().filter(|e| is_money_event(e)).collect();
    let mut books = vec![base.clone()];
    for event in &money {
        let next = apply(books.last().ok_or("empty fold")?, event)?;
        books.push(next);
    }
    let end = books.last().ok_or("empty fold")?;
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
    let funding_delta = funding_difference(&state.funding, &end.funding)?;
    let end = match funding_delta {
        Some(delta) => Book {
            balance: add_text(&end.balance, delta)?,
            funding: state.funding.clone(),
            ..end.clone()
        },
        None => end.clone(),
    };
    let funding_note = funding_delta.map(|d| format!("funding of {} not journaled", d.text()));
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
        None => Err(format!(
            "the state ({}) matches no point of the journal fold from {} over {} money events, nor one unjournaled fill/exit after it (fold ends at {})",
            state.describe(),
            base.describe(),
            money.len(),
            end.describe()
        )),
    }
}

/// `state − end` of two funding totals, `None` when equal.
fn funding_difference(state: &str, end: &str) -> Result<Option<Dec>, String> {
    let (state, end) = (Dec::parse(state), Dec::parse(end));
    let (Some(state), Some(end)) = (state, end) else {
        return Err("unparsable funding total".to_owned());
    };
    let delta = state
        .checked_add(Dec {
            mantissa: -end.mantissa,
            scale: end.scale,
        })
        .ok_or("funding overflow")?;
    Ok((delta.mantissa != 0).then_some(delta))
}

/// Client order ids with a `fill` line in the journal.
pub(crate) fn filled_ids(journal: &[Json]) -> BTreeSet<String> {
    journal
        .iter()
        .filter(|e| e.get("kind").and_then(Json::as_str) == Some("fill"))
        .filter_map(|e| {
            e.get("client_order_id")
                .and_then(Json::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// Client order ids with more than one `kind` line (`fill` or `exit`) in the whole journal.
pub(crate) fn repeated_ids(journal: &[Json], kind: &str) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for event in journal {
        if event.get("kind").and_then(Json::as_str) == Some(kind)
            && let Some(id) = event.get("client_order_id").and_then(Json::as_str)
        {
            *counts.entry(id.to_owned()).or_default() += 1;
        }
    }
    counts.retain(|_, n| *n > 1);
    counts
}

/// Parses an RFC 3339 UTC time (`2026-05-20T01:02:03.456Z`) to epoch milliseconds.
pub(crate) fn rfc3339_ms(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (t.next()??, t.next()??, t.next()??);
    let millis = if frac.is_empty() {
        0
    } else {
        format!("{:0<3}", &frac[..frac.len().min(3)])
            .parse::<i64>()
            .ok()?
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

#[cfg(test)]
mod tests;
