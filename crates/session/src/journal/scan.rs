//! Reading the journal back, streamed and bounded: the one reader of `events.jsonl`.
//!
//! A journal is appended to for the life of a workspace and may have been damaged: a line
//! torn in half by a power cut (the tail has no newline), a line duplicated by a copy, bytes
//! of garbage, or one enormous line. The reader walks it in fixed-size chunks and never holds
//! more than [`MAX_LINE_BYTES`] of one line: a longer line is skipped and counted, so a
//! 200 MB line costs 1 MiB of memory, not 200 MB. Each intact line is handed to the caller;
//! what could not be used is counted in [`JournalScan`], and the caller reports the counts.
//!
//! A line is *garbage* when it is not a JSON object with a `kind`; a *duplicate sequence*
//! is a `seq` at or below the highest seen before it. Journals written before the sequence
//! number was carried across runs start again at 1 with every run: a `seq` of 1 after higher
//! ones is counted as a *sequence restart*, not as a duplicate.

use std::io::{self, BufRead};

use serde_json::{Map, Value};

/// The longest journal line read: real lines are a few hundred bytes, a catch-up record a
/// few kilobytes. Anything longer is not a line this program wrote.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What a scan found, besides the lines it handed over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalScan {
    /// Intact event lines (JSON objects with a `kind`).
    pub events: u64,
    /// The highest `seq` seen (0 for an empty journal).
    pub last_seq: u64,
    /// Lines that are not a JSON object with a `kind`.
    pub garbage_lines: u64,
    /// Lines longer than [`MAX_LINE_BYTES`], skipped unread.
    pub oversize_lines: u64,
    /// Lines whose `seq` is at or below one seen before (not a restart at 1).
    pub duplicate_seqs: u64,
    /// Lines with `seq` 1 after higher ones: a journal written by an older build, which
    /// numbered each run from 1.
    pub sequence_restarts: u64,
    /// Bytes after the last newline: a line torn by a crash mid-append.
    pub torn_tail_bytes: u64,
    /// Whether those bytes are a whole event that only lacks its newline.
    pub torn_tail_is_whole_event: bool,
    /// Byte length of the journal up to and including its last newline.
    pub intact_len: u64,
}

impl JournalScan {
    /// Whether anything was damaged (torn, garbage, oversize or duplicated).
    pub const fn found_damage(&self) -> bool {
        self.torn_tail_bytes > 0
            || self.garbage_lines > 0
            || self.oversize_lines > 0
            || self.duplicate_seqs > 0
    }
}

/// One raw line as the chunked reader delivers it.
enum RawLine<'a> {
    Bytes(&'a [u8]),
    Oversize,
}

/// Reads `reader` line by line, holding at most [`MAX_LINE_BYTES`] of a line, and calls
/// `on_event` with every intact event line (a JSON object with a `kind`), in order.
///
/// # Errors
/// A read error.
pub fn scan_journal(
    reader: impl BufRead,
    mut on_event: impl FnMut(&Map<String, Value>),
) -> io::Result<JournalScan> {
    let mut scan = JournalScan::default();
    let tail = read_lines(reader, |raw| match raw {
        RawLine::Oversize => scan.oversize_lines += 1,
        RawLine::Bytes(bytes) => match parse_event(bytes) {
            Some(event) => {
                note_seq(&mut scan, &event);
                scan.events += 1;
                on_event(&event);
            }
            None if bytes.iter().all(u8::is_ascii_whitespace) => {}
            None => scan.garbage_lines += 1,
        },
    })?;
    scan.intact_len = tail.intact_len;
    scan.torn_tail_bytes = tail.torn_bytes;
    scan.torn_tail_is_whole_event = tail.whole_event;
    Ok(scan)
}

fn parse_event(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(fields)) if fields.get("kind").is_some_and(Value::is_string) => {
            Some(fields)
        }
        _ => None,
    }
}

fn note_seq(scan: &mut JournalScan, event: &Map<String, Value>) {
    let Some(seq) = event.get("seq").and_then(Value::as_u64) else {
        return;
    };
    if seq > scan.last_seq {
        scan.last_seq = seq;
    } else if seq == 1 {
        scan.sequence_restarts += 1;
    } else {
        scan.duplicate_seqs += 1;
    }
}

/// Where the intact part of the file ends and what follows it.
struct Tail {
    intact_len: u64,
    torn_bytes: u64,
    whole_event: bool,
}

fn read_lines(mut reader: impl BufRead, mut on_line: impl FnMut(RawLine<'_>)) -> io::Result<Tail> {
    let mut line = Vec::new();
    let mut oversize = false;
    let mut offset = 0u64;
    let mut intact_len = 0u64;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        let (piece, ends_line) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], true),
            None => (chunk, false),
        };
        if !oversize && line.len() + piece.len() > MAX_LINE_BYTES {
            oversize = true;
            line = Vec::new();
        }
        if !oversize {
            line.extend_from_slice(piece);
        }
        let used = piece.len() + usize::from(ends_line);
        reader.consume(used);
        offset += used as u64;
        if ends_line {
            if oversize {
                on_line(RawLine::Oversize);
            } else {
                on_line(RawLine::Bytes(&line));
            }
            line.clear();
            oversize = false;
            intact_len = offset;
        }
    }
    let torn_bytes = offset - intact_len;
    let whole_event = torn_bytes > 0 && !oversize && parse_event(&line).is_some();
    if whole_event {
        on_line(RawLine::Bytes(&line));
    }
    Ok(Tail {
        intact_len,
        torn_bytes,
        whole_event,
    })
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::*;

    fn scan_text(text: &[u8]) -> (JournalScan, Vec<String>) {
        let mut kinds = Vec::new();
        let scan = scan_journal(BufReader::with_capacity(64, text), |event| {
            kinds.push(event["kind"].as_str().unwrap_or_default().to_owned());
        })
        .expect("in-memory read");
        (scan, kinds)
    }

    #[test]
    fn a_torn_tail_is_measured_and_the_intact_part_ends_at_the_last_newline() {
        let text = b"{\"seq\":1,\"kind\":\"a\"}\n{\"seq\":2,\"kind\":\"b\"}\n{\"seq\":3,\"ki";
        let (scan, kinds) = scan_text(text);
        assert_eq!(kinds, ["a", "b"]);
        assert_eq!(scan.intact_len, 42);
        assert_eq!(scan.torn_tail_bytes, 12);
        assert!(!scan.torn_tail_is_whole_event);
        assert_eq!(scan.last_seq, 2);
        let (whole, kinds) = scan_text(b"{\"seq\":1,\"kind\":\"a\"}");
        assert!(whole.torn_tail_is_whole_event, "{whole:?}");
        assert_eq!(
            (kinds.len(), whole.last_seq),
            (1, 1),
            "a whole last event is read"
        );
    }

    #[test]
    fn garbage_duplicate_seqs_and_legacy_restarts_are_counted_apart() {
        let text = b"{\"seq\":1,\"kind\":\"a\"}\nnot json\n[1,2]\n{\"seq\":2,\"kind\":\"b\"}\n\
{\"seq\":2,\"kind\":\"b\"}\n{\"seq\":1,\"kind\":\"c\"}\n\n";
        let (scan, kinds) = scan_text(text);
        assert_eq!(kinds, ["a", "b", "b", "c"]);
        assert_eq!(
            (
                scan.garbage_lines,
                scan.duplicate_seqs,
                scan.sequence_restarts
            ),
            (2, 1, 1)
        );
        assert_eq!(scan.torn_tail_bytes, 0);
        assert!(scan.found_damage());
    }

    #[test]
    fn a_line_over_the_cap_is_skipped_and_counted_and_the_next_line_is_read() {
        let mut text = b"{\"seq\":1,\"kind\":\"a\"}\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        text.extend_from_slice(b"\n{\"seq\":2,\"kind\":\"b\"}\n");
        let (scan, kinds) = scan_text(&text);
        assert_eq!(kinds, ["a", "b"]);
        assert_eq!((scan.oversize_lines, scan.garbage_lines), (1, 0));
        assert_eq!(scan.intact_len, text.len() as u64);
    }
}
