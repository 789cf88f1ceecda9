//! `wss://` and `https://` against the simulator serving a self-signed certificate.

use std::{sync::Arc, time::Duration};

use la_bitunix_sim::SimTls;
use la_core::MarketEvent;
use la_feed_bitunix::{FeedError, RestClient};

use crate::support::{Harness, SimClock, btc, feed_config, sim_config};

fn self_signed() -> (Vec<u8>, SimTls) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let der = cert.der().to_vec();
    let tls = SimTls {
        cert_chain_der: vec![der.clone()],
        key_der: signing_key.serialize_der(),
    };
    (der, tls)
}

#[tokio::test(start_paused = true)]
async fn wss_and_https_work_with_a_self_signed_certificate() {
    let (root, tls) = self_signed();
    let mut config = sim_config(600);
    config.tls = Some(tls);
    let sim = la_bitunix_sim::start(config).await.unwrap();
    assert!(sim.ws_url().starts_with("wss://"));
    assert!(sim.rest_url().starts_with("https://"));

    // Without the root, the certificate is refused with a typed error.
    let untrusting =
        RestClient::with_clock(&feed_config(&sim), Arc::new(SimClock::of(&sim, 1.0))).unwrap();
    let err = untrusting.trading_pair(btc()).await.unwrap_err();
    assert!(
        matches!(err, FeedError::Transport(ref m) if m.contains("certificate") || m.contains("Certificate")),
        "{err}"
    );

    let mut h = Harness::with_sim(sim, 1.0, |c| {
        c.tls_roots = Some(vec![root]);
        c.rest_retry_budget = 0;
    });
    h.streaming().await;
    h.wait_for(Duration::from_secs(90), |e| {
        matches!(e, MarketEvent::CandleClosed { .. })
    })
    .await;
    let info = h.handle.rest().trading_pair(btc()).await.unwrap();
    assert_eq!(info.symbol, btc());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_exchange_clock_is_read_from_the_date_header_over_https() {
    let (root, tls) = self_signed();
    let mut config = sim_config(600);
    config.tls = Some(tls);
    let sim = la_bitunix_sim::start(config).await.unwrap();
    let mut feed = feed_config(&sim);
    feed.tls_roots = Some(vec![root]);
    // The wall clock on both sides: the simulator's HTTP server stamps `Date` with it.
    let rest = RestClient::new(&feed).unwrap();
    let (price, date) = rest.last_price_with_server_date(btc()).await.unwrap();
    assert!(price.get() > la_core::Decimal::ZERO);
    let server = date.server.expect("the answer carries a Date header");
    let skew_ms = date.received.ms_since(server);
    assert!(
        (0..=5_000).contains(&skew_ms),
        "the Date header (whole seconds) is at most a moment before the answer arrived: {skew_ms} ms"
    );
    sim.shutdown().await;
}
