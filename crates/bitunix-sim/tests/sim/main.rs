//! End-to-end tests of the simulator over real loopback sockets, with a tiny raw
//! fastwebsockets/hyper client (deliberately not the feed crate), under tokio paused time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
mod data_files;
mod faults_conn;
mod faults_data;
mod faults_rest;
mod lifecycle;
mod record;
mod rest;
mod tls;
mod ws_protocol;
