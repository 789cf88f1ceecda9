//! `laptop-agents sim`: runs the local Bitunix simulator in the foreground and prints its
//! URLs (one `ws_url=… rest_url=…` line, for scripts), so any client (ours or another) can be
//! pointed at it; Ctrl-C (SIGINT) stops it, flushing the record file and printing its counters.

use std::{net::SocketAddr, process::ExitCode, time::Duration};

use la_bitunix_sim::{MarketData, SimConfig};
use la_core::{Decimal, TimestampMs};

use crate::{Failure, args::SimArgs, console::outln};

/// The `--help` text listing every fault scenario.
pub(crate) fn scenario_help() -> String {
    let mut text = String::from(
        "Fault scenarios (for --fault; e.g. --fault silence:30s or --fault 2m@gap:3; durations need a unit, a bare number is minutes):\n",
    );
    for (name, description) in la_bitunix_sim::scenario_catalogue() {
        text.push_str(&format!("  {name:<22} {description}\n"));
    }
    text
}

/// The line that tells a script where the simulator listens: `ws_url=<url> rest_url=<url>`,
/// space-separated `key=value` pairs (also valid shell assignments), printed once the port is
/// bound, so `--listen 127.0.0.1:0` can pick a free port and a supervisor still finds it.
fn ready_line(ws_url: &str, rest_url: &str) -> String {
    format!("ws_url={ws_url} rest_url={rest_url}")
}

pub(crate) fn run(args: &SimArgs) -> Result<ExitCode, Failure> {
    let listen: SocketAddr = args.listen.parse().map_err(|_| {
        Failure::config(
            format!("`listen`: {:?} is not an address", args.listen),
            "e.g. 127.0.0.1:9000",
        )
    })?;
    let faults = args
        .faults
        .iter()
        .map(|spec| la_bitunix_sim::parse_scheduled_fault(spec))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Failure::config(
                format!("`fault`: {e}"),
                "see `laptop-agents sim --help` for the scenario list",
            )
        })?;
    let data = match &args.data {
        Some(path) => MarketData::Csv(path.clone()),
        None => MarketData::Generated {
            seed: args.seed,
            start_price: Decimal::from(60_000),
            start_time: TimestampMs::new(1_704_067_200_000).unwrap_or(TimestampMs::MIN),
            n_candles: 100_000,
        },
    };
    let config = SimConfig {
        listen,
        data,
        speed: args.speed,
        history_candles: args.history_candles,
        faults,
        record_path: args.record.clone(),
        ..SimConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let sim = la_bitunix_sim::start(config)
            .await
            .map_err(|e| Failure::runtime(format!("simulator failed to start: {e}")))?;
        outln!("simulator listening");
        // One line for scripts (see `ready_line`); stdout is line-buffered, so a reader
        // sees it as soon as the port is bound.
        outln!("{}", ready_line(&sim.ws_url(), &sim.rest_url()));
        let limit = async {
            match args.seconds {
                Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => outln!("interrupted"),
            () = limit => {},
        }
        let stats = sim.stats();
        sim.shutdown().await;
        if let Ok(text) = serde_json::to_string(&stats) {
            outln!("{text}");
        }
        Ok::<_, Failure>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
