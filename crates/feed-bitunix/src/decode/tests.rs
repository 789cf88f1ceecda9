//! Decoder table tests: one case per kind of bad input, run against both JSON back ends.
//! The live captures themselves, with their values, are checked in `captured_frames`.

use la_core::{CandleNormalization, Interval, Price, RejectReason, Symbol, TimestampMs, Volume};
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::{Decoded, FrameDecoder, FrameRejection, JsonBackend};

const BACKENDS: [JsonBackend; 2] = [JsonBackend::SimdJson, JsonBackend::SerdeJson];

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn p(text: &str) -> Price {
    text.parse().unwrap()
}

fn ts(ms: i64) -> TimestampMs {
    TimestampMs::new(ms).unwrap()
}

/// Decodes `frame` with both back ends and checks they agree.
#[track_caller]
fn decode(frame: &str) -> Result<Decoded, FrameRejection> {
    decode_for(frame, Interval::M1)
}

#[track_caller]
fn decode_for(frame: &str, interval: Interval) -> Result<Decoded, FrameRejection> {
    let results: Vec<_> = BACKENDS
        .iter()
        .map(|backend| {
            let mut bytes = frame.as_bytes().to_vec();
            FrameDecoder::with_backend(interval, *backend).decode(&mut bytes, btc())
        })
        .collect();
    let sample: String = frame.chars().take(200).collect();
    assert_eq!(results[0], results[1], "back ends disagree on {sample}");
    results[0].clone()
}

#[track_caller]
fn rejected(frame: &str) -> FrameRejection {
    match decode(frame) {
        Err(rejection) => rejection,
        Ok(value) => panic!("accepted {}: {value:?}", &frame[..frame.len().min(200)]),
    }
}

const KLINE_LIVE: &str = r#"{"ch":"market_kline_1min","symbol":"BTCUSDT","ts":1786650732204,"data":{"o":"63404.6","c":"63404.7","h":"63404.8","l":"63404.5","b":"0.2413","q":"15299.54977"}}"#;
const KLINE_DOCS: &str = r#"{"ch":"market_kline_1min","symbol":"BTCUSDT","ts":1775541412718,"data":{"o":"68581.4","c":"68583.4","h":"68590","l":"68579.5","b":"5.2395","q":"359348.14078"}}"#;
const TICKER_LIVE: &str = r#"{"ch":"ticker","symbol":"BTCUSDT","ts":1790126515684,"data":{"s":"BTCUSDT","o":"85567","la":"86688.2","h":"86815.6","l":"85080","b":"27478.1701","q":"2362759522.50052","r":"1.3103182302"}}"#;
const PRICE_LIVE: &str = r#"{"ch":"price","symbol":"BTCUSDT","ts":1790126515695,"data":{"ip":"86720.6","mp":"86688.3","fr":"-0.00077","ft":"2026-09-23T00:00:00Z","nft":"2026-09-23T08:00:00Z"}}"#;
const TRADE_DOCS: &str = r#"{"ch":"trade","symbol":"BTCUSDT","ts":1775540872598,"data":[{"t":"2026-04-07T05:47:52Z","p":"68621.4","v":"0.7142","s":"buy"},{"t":"2026-04-07T05:47:52Z","p":"68621.4","v":"0.0018","s":"sell"}]}"#;
const DEPTH_LIVE: &str = r#"{"ch":"depth_book15","symbol":"BTCUSDT","ts":1790126515693,"data":{"b":[["86699.6","2.274"],["86699.5","2.7407"],["86699.4","3.093"]],"a":[["86699.7","0.7095"],["86699.8","2.1992"],["86699.9","1.457"]]}}"#;
const TICKERS_DOCS: &str = r#"{"ch":"tickers","ts":1732178884994,"data":[{"s":"BTCUSDT","la":"68650.9","o":"69141.6","h":"70319.9","l":"68241.9","b":"26295.3977","q":"1823374525.0193","r":"-0.7097029863","bd":"68650.9","ak":"68651","bv":"0.9747","av":"2.3606"}]}"#;

/// A kline frame with `data` members replaced by `data` (raw JSON object body).
fn kline_with(data: &str) -> String {
    format!(
        r#"{{"ch":"market_kline_1min","symbol":"BTCUSDT","ts":1786650732204,"data":{{{data}}}}}"#
    )
}

const GOOD_DATA: &str = r#""o":"100","c":"101","h":"102","l":"99","b":"1.5","q":"150""#;

#[test]
fn docs_kline_example_decodes_with_b_as_base_volume() {
    let Ok(Decoded::Kline { base_volume, h, .. }) = decode(KLINE_DOCS) else {
        panic!("not a kline");
    };
    assert_eq!(base_volume.get(), Decimal::new(52395, 4));
    assert_eq!(h, p("68590"));
}

#[test]
fn channels_we_did_not_subscribe_to_are_ignored_not_rejected() {
    assert_eq!(decode(TRADE_DOCS), Ok(Decoded::IgnoredChannel));
    assert_eq!(decode(DEPTH_LIVE), Ok(Decoded::IgnoredChannel));
    assert_eq!(decode(TICKERS_DOCS), Ok(Decoded::IgnoredChannel));
    // A kline of another interval is a known channel too.
    assert_eq!(
        decode(&KLINE_LIVE.replace("market_kline_1min", "market_kline_5min")),
        Ok(Decoded::IgnoredChannel)
    );
}

#[test]
fn the_kline_channel_follows_the_interval() {
    let frame = KLINE_LIVE.replace("market_kline_1min", "market_kline_60min");
    assert!(matches!(
        decode_for(&frame, Interval::H1),
        Ok(Decoded::Kline { .. })
    ));
    assert_eq!(
        decode_for(KLINE_LIVE, Interval::H1),
        Ok(Decoded::IgnoredChannel)
    );
}

#[test]
fn control_frames_from_the_protocol_document_are_recognised() {
    assert_eq!(
        decode(r#"{"op":"connect","data":{"result":true}}"#),
        Ok(Decoded::Connect)
    );
    assert_eq!(
        decode(r#"{"op":"ping","pong":1732519687,"ping":1732519690}"#),
        Ok(Decoded::Pong {
            client_ping: 1_732_519_687
        })
    );
    assert_eq!(
        decode(r#"{"op":"ping","pong":1790126498,"ping":1790126491}"#),
        Ok(Decoded::Pong {
            client_ping: 1_790_126_498
        })
    );
    assert_eq!(
        decode(r#"{"op":"unsubscribe","ts":1790126500916,"data":"success"}"#),
        Ok(Decoded::ControlOther)
    );
    assert_eq!(
        decode(
            r#"{"op":"subscribe","data":{"msg":"subscribe channel > 300","nonce":"","result":false}}"#
        ),
        Ok(Decoded::SubscribeRefused)
    );
    assert_eq!(
        decode(r#"{"op":"subscribe","ch":"trade","symbol":"BTCUSDT","data":{"result":true}}"#),
        Ok(Decoded::ControlOther)
    );
    assert_eq!(
        rejected(r#"{"op":"ping","pong":"1732519687"}"#),
        FrameRejection::WrongType("pong")
    );
}

#[test]
fn bad_price_strings_are_rejected_with_their_reason() {
    let cases = [
        ("NaN", RejectReason::NotANumber),
        ("nan", RejectReason::NotANumber),
        ("Infinity", RejectReason::Infinite),
        ("-inf", RejectReason::Infinite),
        ("-100", RejectReason::Negative),
        ("0", RejectReason::Zero),
        ("0.0", RejectReason::Zero),
        ("", RejectReason::Empty),
        ("   ", RejectReason::Empty),
        ("1e5", RejectReason::ExponentNotation),
        ("63,404.6", RejectReason::Malformed),
        ("0x10", RejectReason::Malformed),
        ("1.2.3", RejectReason::Malformed),
    ];
    for (bad, reason) in cases {
        let frame = kline_with(&GOOD_DATA.replace(r#""o":"100""#, &format!(r#""o":"{bad}""#)));
        assert_eq!(
            rejected(&frame),
            FrameRejection::Value {
                field: "data.o",
                reason
            },
            "{bad:?}"
        );
    }
}

#[test]
fn a_huge_digit_string_is_out_of_range_not_a_panic() {
    let huge = "9".repeat(100_000);
    let frame = kline_with(&GOOD_DATA.replace(r#""h":"102""#, &format!(r#""h":"{huge}""#)));
    assert_eq!(
        rejected(&frame),
        FrameRejection::Value {
            field: "data.h",
            reason: RejectReason::OutOfRange
        }
    );
    let tiny = format!("0.{}1", "0".repeat(40));
    let frame = kline_with(&GOOD_DATA.replace(r#""b":"1.5""#, &format!(r#""b":"{tiny}""#)));
    assert_eq!(
        rejected(&frame),
        FrameRejection::Value {
            field: "data.b",
            reason: RejectReason::TooPrecise
        }
    );
}

#[test]
fn numbers_instead_of_strings_are_wrong_type() {
    let frame = kline_with(&GOOD_DATA.replace(r#""c":"101""#, r#""c":101"#));
    assert_eq!(rejected(&frame), FrameRejection::WrongType("data.c"));
    let frame = kline_with(&GOOD_DATA.replace(r#""l":"99""#, r#""l":99.5"#));
    assert_eq!(rejected(&frame), FrameRejection::WrongType("data.l"));
    let frame = KLINE_LIVE.replace("1786650732204", "\"1786650732204\"");
    assert_eq!(rejected(&frame), FrameRejection::WrongType("ts"));
    let frame = KLINE_LIVE.replace("1786650732204", "1786650732204.5");
    assert_eq!(rejected(&frame), FrameRejection::WrongType("ts"));
    let frame = KLINE_LIVE.replace(r#""symbol":"BTCUSDT""#, r#""symbol":7"#);
    assert_eq!(rejected(&frame), FrameRejection::WrongType("symbol"));
    let frame = format!(
        r#"{{"ch":"market_kline_1min","symbol":"BTCUSDT","ts":1786650732204,"data":[{{{GOOD_DATA}}}]}}"#
    );
    assert_eq!(rejected(&frame), FrameRejection::WrongType("data"));
}

#[test]
fn missing_fields_are_named() {
    for (member, field) in [
        (r#""o":"100","#, "data.o"),
        (r#""h":"102","#, "data.h"),
        (r#""b":"1.5","#, "data.b"),
    ] {
        let frame = kline_with(&GOOD_DATA.replace(member, ""));
        assert_eq!(rejected(&frame), FrameRejection::MissingField(field));
    }
    let no_ts = KLINE_LIVE.replace(r#""ts":1786650732204,"#, "");
    assert_eq!(rejected(&no_ts), FrameRejection::MissingField("ts"));
    let no_symbol = KLINE_LIVE.replace(r#""symbol":"BTCUSDT","#, "");
    assert_eq!(rejected(&no_symbol), FrameRejection::MissingField("symbol"));
    let no_data = r#"{"ch":"ticker","symbol":"BTCUSDT","ts":1790126515684}"#;
    assert_eq!(rejected(no_data), FrameRejection::MissingField("data"));
    let no_ch = r#"{"symbol":"BTCUSDT","ts":1790126515684,"data":{}}"#;
    assert_eq!(rejected(no_ch), FrameRejection::MissingField("ch"));
    let ticker_without_last = TICKER_LIVE.replace(r#""la":"86688.2","#, "");
    assert_eq!(
        rejected(&ticker_without_last),
        FrameRejection::MissingField("data.la")
    );
}

#[test]
fn extra_fields_are_accepted() {
    let frame = kline_with(&format!(
        r#"{GOOD_DATA},"zz":"extra","nested":{{"a":[1,2,{{"b":null}}]}},"t":true"#
    ));
    assert!(matches!(decode(&frame), Ok(Decoded::Kline { .. })));
    let frame = KLINE_LIVE.replace(r#"{"ch""#, r#"{"event":"channel_pushed","x":[1,[2]],"ch""#);
    assert!(matches!(decode(&frame), Ok(Decoded::Kline { .. })));
}

#[test]
fn a_high_below_the_low_or_a_close_outside_the_range_is_rejected() {
    let high_below_low = kline_with(r#""o":"100","c":"100","h":"99","l":"101","b":"1","q":"1""#);
    assert_eq!(
        rejected(&high_below_low),
        FrameRejection::Value {
            field: "data.h",
            reason: RejectReason::OhlcInconsistent
        }
    );
    let close_above = kline_with(r#""o":"100","c":"103","h":"102","l":"99","b":"1","q":"1""#);
    assert_eq!(
        rejected(&close_above),
        FrameRejection::Value {
            field: "data.c",
            reason: RejectReason::OhlcInconsistent
        }
    );
}

#[test]
fn a_kline_push_with_its_open_outside_the_range_is_widened_and_flagged() {
    // The values of the real REST row whose open is the previous close, as a push.
    let open_outside =
        kline_with(r#""o":"76389","c":"76345.5","h":"76383.1","l":"76269.8","b":"1","q":"1""#);
    assert_eq!(
        decode(&open_outside),
        Ok(Decoded::Kline {
            ts: ts(1_786_650_732_204),
            o: p("76389"),
            h: p("76389"),
            l: p("76269.8"),
            c: p("76345.5"),
            base_volume: Volume::parse("b", "1").unwrap(),
            normalization: Some(CandleNormalization::OpenOutsideRange),
        })
    );
}

#[test]
fn wrong_symbol_and_unknown_channel_are_rejected() {
    let eth = KLINE_LIVE.replace(r#""symbol":"BTCUSDT""#, r#""symbol":"ETHUSDT""#);
    assert_eq!(rejected(&eth), FrameRejection::WrongSymbol);
    let lower = KLINE_LIVE.replace(r#""symbol":"BTCUSDT""#, r#""symbol":"btcusdt""#);
    assert_eq!(rejected(&lower), FrameRejection::WrongSymbol);
    let unknown = KLINE_LIVE.replace("market_kline_1min", "market.BTCUSDT.kline.1m");
    assert_eq!(rejected(&unknown), FrameRejection::UnknownChannel);
}

#[test]
fn timestamps_outside_the_sanity_window_are_rejected() {
    for bad in [
        "1786650732",
        "1786650732204000",
        "-5",
        "9223372036854775808",
    ] {
        let frame = KLINE_LIVE.replace("1786650732204", bad);
        assert_eq!(
            rejected(&frame),
            FrameRejection::Value {
                field: "ts",
                reason: RejectReason::TimestampOutOfBounds
            },
            "{bad}"
        );
    }
    // Beyond u64 the parsers differ (simd-json: not JSON; serde_json: a float), but it is
    // rejected either way.
    let frame = KLINE_LIVE.replace("1786650732204", "99999999999999999999");
    for backend in BACKENDS {
        let mut bytes = frame.as_bytes().to_vec();
        let result = FrameDecoder::with_backend(Interval::M1, backend).decode(&mut bytes, btc());
        assert!(matches!(
            result,
            Err(FrameRejection::NotJson | FrameRejection::WrongType("ts"))
        ));
    }
}

#[test]
fn garbage_is_rejected_with_a_typed_reason() {
    assert_eq!(rejected("hello"), FrameRejection::NotJson);
    assert_eq!(rejected(""), FrameRejection::NotJson);
    assert_eq!(rejected(&KLINE_LIVE[..70]), FrameRejection::NotJson);
    assert_eq!(
        rejected(&format!("{KLINE_LIVE} trailing")),
        FrameRejection::NotJson
    );
    assert_eq!(rejected("[1,2,3]"), FrameRejection::NotAnObject);
    assert_eq!(rejected("\"text\""), FrameRejection::NotAnObject);
    assert_eq!(rejected("42"), FrameRejection::NotAnObject);
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(rejected(&nested), FrameRejection::NotAnObject);
    let nested_object = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    assert_eq!(rejected(&nested_object), FrameRejection::TooDeep);
    let nested_in_data = kline_with(&format!(
        r#"{GOOD_DATA},"x":{}{}"#,
        "[".repeat(5_000),
        "]".repeat(5_000)
    ));
    assert_eq!(rejected(&nested_in_data), FrameRejection::TooDeep);
}

#[test]
fn oversized_and_invalid_utf8_payloads_are_rejected() {
    let mut big = vec![b' '; (1 << 20) + 1];
    for backend in BACKENDS {
        let mut decoder = FrameDecoder::with_backend(Interval::M1, backend);
        assert_eq!(
            decoder.decode(&mut big, btc()),
            Err(FrameRejection::TooLarge)
        );
        let mut small = FrameDecoder::with_backend(Interval::M1, backend).with_max_message_size(64);
        let mut frame = KLINE_LIVE.as_bytes().to_vec();
        assert_eq!(
            small.decode(&mut frame, btc()),
            Err(FrameRejection::TooLarge)
        );
        let mut bad_utf8 = br#"{"ch":"ticker","symbol":"BTC"#.to_vec();
        bad_utf8.extend_from_slice(&[0xff, 0xfe]);
        bad_utf8.extend_from_slice(br#"USDT"}"#);
        let rejection = decoder.decode(&mut bad_utf8, btc()).unwrap_err();
        assert!(
            matches!(
                rejection,
                FrameRejection::InvalidUtf8 | FrameRejection::NotJson
            ),
            "{backend:?}: {rejection:?}"
        );
    }
}

#[test]
fn escaped_strings_are_unescaped_before_validation() {
    let frame = KLINE_LIVE.replace(r#""symbol":"BTCUSDT""#, r#""symbol":"BTC\u0055SDT""#);
    assert!(matches!(decode(&frame), Ok(Decoded::Kline { .. })));
    let frame = kline_with(&GOOD_DATA.replace(r#""o":"100""#, r#""o":"1\u00300""#));
    assert!(matches!(decode(&frame), Ok(Decoded::Kline { o, .. }) if o == p("100")));
}

#[test]
fn funding_rate_bounds_and_next_funding_time_are_checked() {
    let wild = PRICE_LIVE.replace(r#""fr":"-0.00077""#, r#""fr":"25""#);
    assert_eq!(
        rejected(&wild),
        FrameRejection::Value {
            field: "data.fr",
            reason: RejectReason::OutOfRange
        }
    );
    let bad_time = PRICE_LIVE.replace("2026-09-23T08:00:00Z", "tomorrow");
    assert_eq!(
        rejected(&bad_time),
        FrameRejection::Value {
            field: "data.nft",
            reason: RejectReason::Malformed
        }
    );
    let without_nft = PRICE_LIVE.replace(r#","nft":"2026-09-23T08:00:00Z""#, "");
    assert!(matches!(
        decode(&without_nft),
        Ok(Decoded::Price {
            next_funding_time: None,
            ..
        })
    ));
}

#[test]
fn decoder_buffers_are_reused_across_frames_of_different_sizes() {
    for backend in BACKENDS {
        let mut decoder = FrameDecoder::with_backend(Interval::M1, backend);
        for frame in [
            KLINE_LIVE,
            DEPTH_LIVE,
            "garbage",
            TICKER_LIVE,
            KLINE_DOCS,
            PRICE_LIVE,
        ] {
            let mut bytes = frame.as_bytes().to_vec();
            let _ = decoder.decode(&mut bytes, btc());
        }
        let mut bytes = KLINE_LIVE.as_bytes().to_vec();
        assert!(matches!(
            decoder.decode(&mut bytes, btc()),
            Ok(Decoded::Kline { .. })
        ));
    }
}

#[test]
fn rejection_labels_are_stable() {
    assert_eq!(FrameRejection::NotJson.as_str(), "not_json");
    assert_eq!(FrameRejection::MissingField("ts").as_str(), "missing_field");
    assert_eq!(
        FrameRejection::Value {
            field: "data.o",
            reason: RejectReason::NotANumber
        }
        .as_str(),
        "not_a_number"
    );
    assert_eq!(
        FrameRejection::WrongType("data.c").to_string(),
        "wrong_type (data.c)"
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for backend in BACKENDS {
            let mut copy = bytes.clone();
            let _ = FrameDecoder::with_backend(Interval::M1, backend).decode(&mut copy, btc());
        }
    }

    #[test]
    fn mutated_real_frames_never_panic_and_both_back_ends_agree(
        index in 0usize..4,
        cut in 0usize..200,
        flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..4),
    ) {
        let base = [KLINE_LIVE, TICKER_LIVE, PRICE_LIVE, DEPTH_LIVE][index];
        let mut bytes = base.as_bytes().to_vec();
        for (pos, byte) in flips {
            if let Some(slot) = bytes.get_mut(pos) {
                *slot = byte;
            }
        }
        bytes.truncate(cut.max(1).min(bytes.len()));
        let results: Vec<_> = BACKENDS.iter().map(|backend| {
            let mut copy = bytes.clone();
            FrameDecoder::with_backend(Interval::M1, *backend).decode(&mut copy, btc())
        }).collect();
        // Successful decodes must agree exactly; rejections may differ only between the
        // syntax-level labels the two parsers classify differently.
        if results[0].is_ok() || results[1].is_ok() {
            prop_assert_eq!(&results[0], &results[1]);
        }
    }
}

#[test]
fn both_back_ends_draw_the_depth_line_at_the_same_place() {
    // The envelope and `data` are two levels; the rest is an unknown nested member.
    for extra in [
        super::MAX_DEPTH - 3,
        super::MAX_DEPTH - 2,
        super::MAX_DEPTH - 1,
    ] {
        let frame = kline_with(&format!(
            r#"{GOOD_DATA},"x":{}1{}"#,
            "[".repeat(extra),
            "]".repeat(extra)
        ));
        let verdict = decode(&frame);
        let total_depth = extra + 2;
        assert_eq!(
            verdict.is_ok(),
            total_depth <= super::MAX_DEPTH,
            "depth {total_depth}: {verdict:?}"
        );
    }
}
