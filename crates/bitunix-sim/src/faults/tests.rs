//! Unit tests for fault specs: parsing, round trips through `Display`, the catalogue, and
//! rejection of bad specs.

use super::*;

fn every_fault() -> Vec<Fault> {
    let mut all = vec![
        Fault::Silence {
            duration_ms: 30_000,
        },
        Fault::PongOnly { duration_ms: 1_500 },
        Fault::DropTcp,
        Fault::CloseFrame,
        Fault::HalfOpen {
            duration_ms: 60_000,
        },
        Fault::Duplicate { count: 3 },
        Fault::Reorder,
        Fault::Gap { candles: 3 },
        Fault::ClockJump {
            virtual_ms: 7_200_000,
        },
        Fault::RestRateLimit {
            duration_ms: 10_000,
            http_429: false,
        },
        Fault::RestRateLimit {
            duration_ms: 10_000,
            http_429: true,
        },
        Fault::RestSlow {
            delay_ms: 2_000,
            duration_ms: 30_000,
        },
        Fault::Rest5xx { duration_ms: 5_000 },
        Fault::RefuseUpgrade { duration_ms: 5_000 },
        Fault::SlowAccept {
            delay_ms: 3_000,
            duration_ms: 9_000,
        },
    ];
    all.extend(GarbageKind::ALL.map(Fault::Garbage));
    all.extend(BadValueKind::ALL.map(Fault::BadValue));
    all.push(Fault::OpenOutsideRange);
    all.extend(PriceFactor::ALL.map(Fault::ImplausiblePrice));
    all
}

#[test]
fn every_fault_round_trips_through_its_spec_text() {
    for fault in every_fault() {
        let spec = fault.to_string();
        assert_eq!(parse_fault(&spec).unwrap(), fault, "{spec}");
    }
}

#[test]
fn the_documented_examples_parse() {
    assert_eq!(
        parse_fault("silence:30s").unwrap(),
        Fault::Silence {
            duration_ms: 30_000
        }
    );
    assert_eq!(parse_fault("gap:3").unwrap(), Fault::Gap { candles: 3 });
    assert_eq!(
        parse_fault("rest-429:10s").unwrap(),
        Fault::RestRateLimit {
            duration_ms: 10_000,
            http_429: true
        }
    );
    assert_eq!(
        parse_fault("garbage:non-json").unwrap(),
        Fault::Garbage(GarbageKind::NonJson)
    );
    assert_eq!(
        parse_fault("bad-value:nan").unwrap(),
        Fault::BadValue(BadValueKind::NaN)
    );
    assert_eq!(
        parse_fault("rest-slow:500ms:2m").unwrap(),
        Fault::RestSlow {
            delay_ms: 500,
            duration_ms: 120_000
        }
    );
    assert_eq!(
        parse_fault("duplicate").unwrap(),
        Fault::Duplicate { count: 1 }
    );
    assert_eq!(
        parse_fault("implausible-price").unwrap(),
        Fault::ImplausiblePrice(PriceFactor::Thousandth)
    );
    assert_eq!(
        parse_fault("implausible-price:high").unwrap(),
        Fault::ImplausiblePrice(PriceFactor::Thousandfold)
    );
    assert_eq!(
        parse_fault("half-open:1h").unwrap(),
        Fault::HalfOpen {
            duration_ms: 3_600_000
        }
    );
}

#[test]
fn every_catalogue_scenario_is_a_parseable_name() {
    let names: Vec<&str> = every_fault().iter().map(Fault::name).collect();
    for (name, description) in scenario_catalogue() {
        assert!(names.contains(name), "{name} is not produced by any fault");
        assert!(description.starts_with(name), "{description}");
    }
    for name in names {
        assert!(
            scenario_catalogue().iter().any(|(n, _)| *n == name),
            "{name} missing from the catalogue"
        );
    }
}

#[test]
fn bad_specs_are_errors_naming_the_problem() {
    for (spec, needle) in [
        ("", "unknown scenario"),
        ("explode", "unknown scenario"),
        ("silence", "takes 1 argument"),
        ("silence:soon", "bad duration"),
        ("silence:5x", "bad duration"),
        ("gap:-1", "bad count"),
        ("garbage:spaghetti", "unknown garbage kind"),
        ("bad-value:purple", "unknown bad-value kind"),
        ("drop-tcp:now", "takes 0 argument"),
        ("rest-slow:1s", "takes 2 argument"),
        ("duplicate:1:2", "at most 1"),
        ("implausible-price:tiny", "unknown price factor"),
        ("open-outside-range:1", "takes 0 argument"),
        ("clock-jump", "takes 1 argument"),
        ("clock-jump:later", "bad duration"),
    ] {
        let error = parse_fault(spec).unwrap_err().to_string();
        assert!(error.contains(needle), "{spec}: {error}");
    }
}

#[test]
fn scheduled_specs_carry_a_virtual_offset() {
    let scheduled = parse_scheduled_fault("2m@silence:30s").unwrap();
    assert_eq!(scheduled.at_virtual_offset_ms, 120_000);
    assert_eq!(
        scheduled.fault,
        Fault::Silence {
            duration_ms: 30_000
        }
    );
    let gap = parse_scheduled_fault("120s@gap:3").unwrap();
    assert_eq!(gap.at_virtual_offset_ms, 120_000);
    assert_eq!(
        parse_scheduled_fault("2@gap:3")
            .unwrap()
            .at_virtual_offset_ms,
        120_000,
        "a bare offset is minutes, as every duration in laptop-agents"
    );
    assert_eq!(
        parse_scheduled_fault("reorder")
            .unwrap()
            .at_virtual_offset_ms,
        0
    );
    assert!(parse_scheduled_fault("later@reorder").is_err());
    assert!(parse_scheduled_fault("10@explode").is_err());
}

#[test]
fn a_bare_duration_is_minutes_as_in_the_run_configuration() {
    assert_eq!(
        parse_fault("silence:1").unwrap(),
        Fault::Silence {
            duration_ms: 60_000
        }
    );
    assert_eq!(
        parse_fault("silence:45s").unwrap(),
        Fault::Silence {
            duration_ms: 45_000
        }
    );
}
