//! Replaying `paper/events.jsonl` against the broker's state file, for `cargo xtask crash`.
//!
//! The account's money facts are a fold over the journal: a `fill` opens the position with
//! its id, side and quantity; an `exit` closes it (count one trade, add `pnl_net` to the
//! balance); `funding_applied` adds its `amount`. After a SIGKILL the state file must equal
//! that fold at some point `k` of the killed run's journal segment, starting from the state
//! the run restored. Events after `k` are the journal being *ahead* of the state file (the
//! journal is fsynced before the state writer saves); see `crash.rs` for when that is
//! allowed. Amounts are added exactly with a small fixed-point decimal (no `f64`).

use std::collections::BTreeMap;

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
}

impl Book {
    /// A fresh account.
    pub(crate) fn fresh(starting_balance: &str) -> Book {
        Book {
            position: None,
            trades: 0,
            balance: normalize_decimal(starting_balance),
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
        Ok(Book {
            position,
            trades,
            balance: normalize_decimal(balance),
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
            next.position = None;
            next.trades += 1;
            next.balance = balance
                .checked_add(amount(event, "pnl_net")?)
                .ok_or("balance overflow")?
                .text();
        }
        "funding_applied" => {
            next.balance = balance
                .checked_add(amount(event, "amount")?)
                .ok_or("balance overflow")?
                .text();
        }
        _ => {}
    }
    Ok(next)
}

/// Where in a journal segment a state file sits.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Money events of the segment the state reflects.
    pub(crate) reflected: usize,
    /// Money events of the segment after that point (the journal ahead of the state).
    pub(crate) ahead: Vec<Json>,
}

/// Folds `segment`'s money events over `base` and finds the latest point equal to `state`.
pub(crate) fn place_state(
    base: &Book,
    segment: &[Json],
    state: &Book,
) -> Result<Placement, String> {
    let money: Vec<&Json> = segment.iter().filter(|e| is_money_event(e)).collect();
    let mut books = vec![base.clone()];
    for event in &money {
        let next = apply(books.last().ok_or("empty fold")?, event)?;
        books.push(next);
    }
    let k = books.iter().rposition(|b| b == state).ok_or_else(|| {
        format!(
            "the state ({}) matches no point of the journal fold from {} over {} money events (fold ends at {})",
            state.describe(),
            base.describe(),
            money.len(),
            books.last().map_or_else(String::new, Book::describe)
        )
    })?;
    Ok(Placement {
        reflected: k,
        ahead: money[k..].iter().map(|e| (*e).clone()).collect(),
    })
}

/// Client order ids with more than one `fill` line in the whole journal.
pub(crate) fn double_fills(journal: &[Json]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for event in journal {
        if event.get("kind").and_then(Json::as_str) == Some("fill")
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
