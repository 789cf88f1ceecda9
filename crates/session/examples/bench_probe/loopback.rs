//! P2 over real loopback sockets: simulator frame written → exit recorded.
//!
//! Set-up, all in this process: the simulator streams probe candles (flat at 60 000, each
//! bar's path dipping 180 below the open at a third of the bar); a TCP relay on plain
//! threads sits between the simulator and the client and stamps `Instant::now()` just before
//! it writes each chunk to the client's socket, noting the `ts` of every ticker frame in the
//! chunk; the real `BitunixFeed` (WebSocket, decoder, candle tracker) delivers events to the
//! live session's engine, with the live session's recording path: the `FileSink` holding
//! broker events, the write-ahead state save (`StateWriter::save_now` of both state files)
//! awaited before the held events are journaled (fsync per line), and the JSON log layer —
//! the same sequence as `live/supervisor.rs` runs after every event. On every closed candle the
//! probe strategy opens a long with its stop 60 below; the next bar's dip arrives as a ticker
//! frame through the stop.
//!
//! Per sample: `decided` = relay write of that ticker frame → `Exited` out of the engine;
//! `recorded` = the same → state saved and the exit journaled (the live session's "exit
//! recorded"). Covered: the client-side socket read, the WebSocket layer, decoding, the
//! feed's channel to the consumer task, the engine and broker, and (for `recorded`) the state
//! files and the journal. Not covered: the simulator's own work before its write and the
//! relay's extra hop (its read side is before the stamp). The relay exists because the
//! simulator's record file only has virtual time; frames are matched by their `ts`, unique
//! per ticker frame.
//!
//! With `--http loopback` the session's HTTP surface runs on the same runtime, fed at the live
//! session's rate, with `--sse-clients N` dashboard event streams open (see `surface.rs`): the
//! same figures with the operator surface on and watched.

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    thread,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use la_bitunix_sim::{MarketData, SimConfig};
use la_core::{
    BrokerEvent, Candle, Clock, Decimal, Interval, MarketEvent, Price, Symbol, TimestampMs, Volume,
};
use la_feed_bitunix::{BitunixFeed, FeedConfig};
use la_session::{
    engine::{DecisionRecord, Engine, EngineSink, EventContext},
    logging::JsonLogLayer,
    run_files::FileSink,
    state::{SESSION_SCHEMA_VERSION, SessionState, Snapshot, StateWriter},
    time_fmt::now_rfc3339,
};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::{
    load_average,
    process::HttpSurface,
    stop_probe::{ExitStamp, probe_engine},
    surface::ProbeSurface,
};

/// 2024-01-01T00:00:00Z.
const START_MS: i64 = 1_704_067_200_000;
const PRICE: i64 = 60_000;
/// The dip below the open (3 × the probe's stop distance).
const DIP: i64 = 180;
/// Kline pushes every 10 s of virtual time (6 per bar): the same candle-close detection with
/// a twentieth of the frames the default 500 ms cadence would send at this speed.
const KLINE_PUSH_MS: u64 = 10_000;

type Stamps = Arc<Mutex<HashMap<i64, Instant>>>;

/// The live session's sink (run files, events held for the write-ahead save) plus the stamp.
struct LiveSink {
    stamp: ExitStamp,
    files: FileSink,
}

impl EngineSink for LiveSink {
    fn broker_event(&mut self, event: &BrokerEvent, context: EventContext) {
        self.stamp.broker_event(event, context);
        self.files.broker_event(event, context);
    }

    fn decision(&mut self, record: &DecisionRecord<'_>) {
        self.files.decision(record);
    }

    fn breaker_tripped(&mut self, reason: &str, ts: TimestampMs) {
        self.files.breaker_tripped(reason, ts);
    }
}

impl LiveSink {
    /// What `live/supervisor.rs` does after each event: save the state that contains a held fill
    /// or exit, then journal the held events.
    async fn record(&mut self, engine: &Engine, writer: &StateWriter) -> Result<(), String> {
        if self.files.holds_state_changes() {
            let snapshot = Snapshot {
                broker: engine.broker().state(),
                session: SessionState {
                    schema_version: SESSION_SCHEMA_VERSION,
                    starting_equity: Decimal::from(10_000_000),
                    last_candle_open_ms: engine.last_candle_open().map(TimestampMs::as_ms),
                    breaker: engine.breaker().state().clone(),
                    run_id: "bench-probe".to_owned(),
                    saved_at: now_rfc3339(),
                },
            };
            if !writer.save_now(snapshot, Duration::from_secs(5)).await {
                return Err("state save failed".to_owned());
            }
        }
        self.files.release_held();
        Ok(())
    }
}

fn probe_candles(n: usize) -> Result<Vec<Candle>, String> {
    let p = |v: i64| Price::new(Decimal::from(v)).map_err(|e| e.to_string());
    (0..n)
        .map(|i| {
            let open_time =
                TimestampMs::new(START_MS + i as i64 * 60_000).map_err(|e| e.to_string())?;
            Candle::new(
                Interval::M1,
                open_time,
                p(PRICE)?,
                p(PRICE + DIP)?,
                p(PRICE - DIP)?,
                p(PRICE)?,
                Volume::new(Decimal::from(5)).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())
        })
        .collect()
}

/// `ts` values of the ticker frames in `chunk` (unmasked server frames: plain JSON text).
fn ticker_timestamps(chunk: &[u8], out: &mut Vec<i64>) {
    const CH: &[u8] = br#""ch":"ticker""#;
    const TS: &[u8] = br#""ts":"#;
    let mut at = 0;
    while let Some(found) = find(&chunk[at..], CH) {
        let after = at + found + CH.len();
        let Some(ts_at) = find(&chunk[after..], TS) else {
            return;
        };
        let digits_from = after + ts_at + TS.len();
        let digits = chunk[digits_from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
        out.push(digits);
        at = digits_from;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Relays one client connection to the simulator, stamping server → client writes.
fn relay(client: TcpStream, upstream: SocketAddr, stamps: Stamps) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut client_in, mut server_out) = (client.try_clone()?, server.try_clone()?);
    thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut server_out);
        let _ = server_out.shutdown(std::net::Shutdown::Write);
    });
    let (mut server_in, mut client_out) = (server, client);
    let mut buf = vec![0u8; 64 * 1024];
    let mut found = Vec::new();
    loop {
        let n = server_in.read(&mut buf)?;
        if n == 0 {
            let _ = client_out.shutdown(std::net::Shutdown::Write);
            return Ok(());
        }
        found.clear();
        ticker_timestamps(&buf[..n], &mut found);
        let written_at = Instant::now();
        client_out.write_all(&buf[..n])?;
        if !found.is_empty() {
            let mut map = stamps.lock().unwrap_or_else(PoisonError::into_inner);
            for ts in &found {
                map.insert(*ts, written_at);
            }
        }
    }
}

fn start_relay(upstream: SocketAddr, stamps: Stamps) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("relay bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let stamps = Arc::clone(&stamps);
            thread::spawn(move || relay(client, upstream, stamps));
        }
    });
    Ok(addr)
}

fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())
}

fn record(h: &mut Histogram<u64>, from: Instant, to: Instant) -> Result<(), String> {
    let ns = u64::try_from(to.saturating_duration_since(from).as_nanos()).unwrap_or(u64::MAX);
    h.record(ns.max(1)).map_err(|e| e.to_string())
}

fn print(name: &str, h: &Histogram<u64>, extra: &str) {
    println!(
        "probe/{name} samples={} p50_us={:.1} p90_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} mean_us={:.1} load={} {extra}",
        h.len(),
        h.value_at_quantile(0.50) as f64 / 1e3,
        h.value_at_quantile(0.90) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.value_at_quantile(0.999) as f64 / 1e3,
        h.max() as f64 / 1e3,
        h.mean() / 1e3,
        load_average()
    );
}

fn install_logging(dir: &Path) -> Result<(), String> {
    let layer = JsonLogLayer::open(&dir.join("system.jsonl"), "BTCUSDT")
        .map_err(|e| format!("log file: {e}"))?;
    tracing_subscriber::registry()
        .with(layer.with_filter(EnvFilter::new("info")))
        .try_init()
        .map_err(|e| format!("logging: {e}"))
}

/// The disk's synced-append latency right now (p50, p99 in µs): 100 appends of a 300-byte
/// line, each followed by `sync_data`, as the journal does. Context for the `recorded` figure.
fn fsync_latency(dir: &Path) -> Result<(f64, f64), String> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let line = [b'x'; 300];
    let mut h = histogram()?;
    for _ in 0..100 {
        let start = Instant::now();
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        record(&mut h, start, Instant::now())?;
    }
    let _ = std::fs::remove_file(&path);
    Ok((
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
    ))
}

/// Runs the probe until `samples` exits were measured.
pub(crate) fn run(samples: usize, speed: f64, http: HttpSurface, dir: &Path) -> Result<(), String> {
    install_logging(dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(measure(samples, speed, http, dir))
}

async fn measure(samples: usize, speed: f64, http: HttpSurface, dir: &Path) -> Result<(), String> {
    let symbol = Symbol::new("BTCUSDT").map_err(|e| e.to_string())?;
    let (mut surface, sse_clients) = match http {
        HttpSurface::Off => (None, 0),
        HttpSurface::Loopback { sse_clients } => {
            (Some(ProbeSurface::start(sse_clients).await?), sse_clients)
        }
    };
    // Spare bars for the connection start-up and the first (unmeasured) position.
    let bars = samples + samples / 10 + 100;
    let sim = la_bitunix_sim::start(SimConfig {
        symbol,
        data: MarketData::Candles(probe_candles(bars)?),
        speed,
        kline_push_ms: KLINE_PUSH_MS,
        ticker_push_ms: 60_000,
        price_push_ms: 60_000,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| format!("simulator: {e}"))?;
    let stamps: Stamps = Arc::default();
    let relay_addr = start_relay(sim.local_addr(), Arc::clone(&stamps))?;
    let mut feed_config = FeedConfig::new(symbol, Interval::M1);
    feed_config.ws_url = format!("ws://{relay_addr}/public/");
    feed_config.rest_url = sim.rest_url();
    feed_config.max_clock_skew = None;
    let clock: Arc<dyn Clock> = Arc::new(sim.clock());
    let (mut feed, handle) =
        BitunixFeed::spawn(feed_config, clock).map_err(|e| format!("feed: {e}"))?;
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
    let mut files = FileSink::open(
        &dir.join("events.jsonl"),
        true,
        &run_dir,
        symbol.as_str(),
        None,
    )
    .map_err(|e| format!("journal: {e}"))?;
    files.hold_broker_events();
    let writer = StateWriter::spawn(
        dir.join("broker_state.json"),
        dir.join("unified_state.json"),
    );
    let mut sink = LiveSink {
        stamp: ExitStamp::default(),
        files,
    };
    let mut engine = probe_engine(symbol).map_err(|e| e.to_string())?;
    let (mut decided, mut recorded) = (histogram()?, histogram()?);
    // Samples whose frame was written while the session was idle (its previous event fully
    // processed and recorded): the path alone, without queueing behind a state save.
    let mut decided_idle = histogram()?;
    let mut idle_since = Instant::now();
    let mut unmatched = 0u64;
    let mut ticks = 0u64;
    let budget = Duration::from_secs_f64(bars as f64 * 60.0 / speed * 1.5 + 30.0);
    let deadline = tokio::time::Instant::now() + budget;
    eprintln!("loopback: {samples} samples at speed {speed} (≤ {budget:?})");
    while decided.len() < samples as u64 {
        let event = match tokio::time::timeout_at(deadline, feed.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => return Err("the feed stopped".to_owned()),
            Err(_) => {
                return Err(format!(
                    "timed out after {} samples ({ticks} ticks, {unmatched} unmatched)",
                    decided.len()
                ));
            }
        };
        match event {
            MarketEvent::Tick(tick) => {
                ticks += 1;
                if let Some(surface) = &surface {
                    surface.mark_data();
                }
                sink.stamp.decided_at = None;
                engine
                    .on_tick(&tick, &mut sink)
                    .map_err(|e| e.to_string())?;
                sink.record(&engine, &writer).await?;
                let done = Instant::now();
                let written = stamps
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&tick.ts().as_ms());
                if let Some(at) = sink.stamp.decided_at {
                    match written {
                        Some(written) => {
                            record(&mut decided, written, at)?;
                            if written >= idle_since {
                                record(&mut decided_idle, written, at)?;
                            }
                            record(&mut recorded, written, done)?;
                        }
                        None => unmatched += 1,
                    }
                }
            }
            MarketEvent::CandleClosed { candle, provenance } => {
                engine
                    .on_candle_closed(&candle, provenance, candle.close_time(), &mut sink)
                    .map_err(|e| e.to_string())?;
                sink.record(&engine, &writer).await?;
                if let Some(surface) = &mut surface {
                    surface.mark_data();
                    surface.add_curve_point(&engine, candle.close_time());
                }
            }
            _ => {}
        }
        // After the event is handled and recorded, as the live session publishes.
        if let Some(surface) = &mut surface {
            surface.publish_if_due(&engine, &sink.files, || handle.counters());
        }
        idle_since = Instant::now();
    }
    let counters = handle.counters();
    handle.shutdown().await;
    sim.shutdown().await;
    let sse_bytes = match surface {
        Some(surface) => surface.shutdown().await,
        None => 0,
    };
    let http_label = if http == HttpSurface::Off {
        "off"
    } else {
        "loopback"
    };
    let dropped: u64 = counters.events_dropped.values().sum();
    let (fsync_p50, fsync_p99) = fsync_latency(dir)?;
    let extra = format!(
        "speed={speed} http={http_label} sse_clients={sse_clients} sse_bytes={sse_bytes} ticks={ticks} unmatched={unmatched} dropped={dropped} fsync_p50_us={fsync_p50:.0} fsync_p99_us={fsync_p99:.0}"
    );
    print("loopback_decided", &decided, &extra);
    print("loopback_recorded", &recorded, &extra);
    print("loopback_decided_idle", &decided_idle, &extra);
    eprintln!("loopback: feed counters {counters:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ticker_timestamps;

    #[test]
    fn ticker_timestamps_are_found_in_a_chunk_of_frames() {
        let chunk = br#"..{"ch":"market_kline_1min","symbol":"BTCUSDT","ts":5,"data":{}}..{"ch":"ticker","symbol":"BTCUSDT","ts":1704067216666,"data":{"la":"1"}}.{"ch":"ticker","symbol":"BTCUSDT","ts":7,"data":{}}"#;
        let mut out = Vec::new();
        ticker_timestamps(chunk, &mut out);
        assert_eq!(out, vec![1_704_067_216_666, 7]);
    }
}
