//! `wss://` and `https://` on the same port with a self-signed certificate.

use std::sync::Arc;

use bytes::Bytes;
use fastwebsockets::handshake;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use la_bitunix_sim::{SimConfig, SimTls, start};
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::client::{Msg, WsClient, config, connect_tcp, upgrade_request};

fn connector(cert_der: &[u8]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert_der.to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(client))
}

#[tokio::test(start_paused = true)]
async fn wss_and_https_are_served_on_the_same_port() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der = certified.cert.der().to_vec();
    let sim = start(SimConfig {
        tls: Some(SimTls {
            cert_chain_der: vec![cert_der.clone()],
            key_der: certified.signing_key.serialize_der(),
        }),
        ..config(10)
    })
    .await
    .unwrap();
    assert!(sim.ws_url().starts_with("wss://"));
    assert!(sim.rest_url().starts_with("https://"));
    let addr = sim.local_addr();
    let tls = connector(&cert_der);
    let name = ServerName::try_from("localhost").unwrap();

    let stream = tls
        .connect(name.clone(), connect_tcp(addr).await)
        .await
        .unwrap();
    let (ws, _) = handshake::client(&TokioExecutor::new(), upgrade_request(addr), stream)
        .await
        .unwrap();
    let mut client = WsClient::from_ws(ws);
    assert_eq!(
        client.next().await,
        Msg::Text(r#"{"op":"connect","data":{"result":true}}"#.to_owned())
    );

    let stream = tls.connect(name, connect_tcp(addr).await).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::get("/api/v1/futures/market/trading_pairs?symbols=BTCUSDT")
        .header(header::HOST, "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["data"][0]["quotePrecision"], 1);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_bad_tls_key_is_a_start_error() {
    let error = start(SimConfig {
        tls: Some(SimTls {
            cert_chain_der: vec![vec![1, 2, 3]],
            key_der: vec![4, 5, 6],
        }),
        ..config(10)
    })
    .await
    .unwrap_err();
    assert!(matches!(error, la_bitunix_sim::SimError::Tls(_)), "{error}");
}
