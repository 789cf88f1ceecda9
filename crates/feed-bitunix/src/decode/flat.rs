//! A flat, allocation-free view of one frame: the handful of envelope and `data` keys the
//! client reads, each with its JSON *kind* kept, so that "missing", "wrong type" and "bad
//! value" can be told apart and counted separately.
//!
//! Two parsers fill it: a walk over a simd-json tape, and a serde visitor driven by
//! `serde_json`. Both borrow strings from the input; unknown keys are skipped (extra fields
//! are accepted), nested values inside `data` are skipped without recursion limits being
//! reached (both parsers cap nesting depth before this code runs).

use std::{borrow::Cow, fmt};

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use simd_json::{Node, StaticNode};

/// One JSON value, reduced to what validation needs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar<'a> {
    /// A string (borrowed from the input unless it had escapes under serde_json).
    Str(Cow<'a, str>),
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer beyond `i64`.
    BigInt,
    /// A number with a fraction or exponent.
    Float,
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An object (contents skipped).
    Object,
    /// An array (contents skipped).
    Array,
}

/// The `data` keys the client reads, by slot.
pub(crate) mod key {
    pub(crate) const O: usize = 0;
    pub(crate) const C: usize = 1;
    pub(crate) const H: usize = 2;
    pub(crate) const L: usize = 3;
    pub(crate) const B: usize = 4;
    pub(crate) const Q: usize = 5;
    pub(crate) const LA: usize = 6;
    pub(crate) const IP: usize = 7;
    pub(crate) const MP: usize = 8;
    pub(crate) const FR: usize = 9;
    pub(crate) const NFT: usize = 10;
    pub(crate) const RESULT: usize = 11;
    pub(crate) const MSG: usize = 12;
    pub(crate) const COUNT: usize = 13;
}

fn data_slot(name: &str) -> Option<usize> {
    Some(match name {
        "o" => key::O,
        "c" => key::C,
        "h" => key::H,
        "l" => key::L,
        "b" => key::B,
        "q" => key::Q,
        "la" => key::LA,
        "ip" => key::IP,
        "mp" => key::MP,
        "fr" => key::FR,
        "nft" => key::NFT,
        "result" => key::RESULT,
        "msg" => key::MSG,
        _ => return None,
    })
}

/// The envelope keys the client reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TopKey {
    Op,
    Ch,
    Symbol,
    Ts,
    Data,
    Pong,
    Other,
}

fn top_key(name: &str) -> TopKey {
    match name {
        "op" => TopKey::Op,
        "ch" => TopKey::Ch,
        "symbol" => TopKey::Symbol,
        "ts" => TopKey::Ts,
        "data" => TopKey::Data,
        "pong" => TopKey::Pong,
        _ => TopKey::Other,
    }
}

/// The kind of the `data` member.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Data<'a> {
    /// No `data` key.
    #[default]
    Absent,
    /// An object; its known keys are in [`FlatFrame::fields`].
    Object,
    /// Anything but an object.
    Other(Scalar<'a>),
}

type Fields<'a> = [Option<Scalar<'a>>; key::COUNT];

/// The envelope (`op`, `ch`, `symbol`, `ts`, `pong`, `data`) of one frame.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FlatFrame<'a> {
    pub(crate) op: Option<Scalar<'a>>,
    pub(crate) ch: Option<Scalar<'a>>,
    pub(crate) symbol: Option<Scalar<'a>>,
    pub(crate) ts: Option<Scalar<'a>>,
    pub(crate) pong: Option<Scalar<'a>>,
    pub(crate) data: Data<'a>,
    /// Known keys of an object `data`, by slot (first occurrence wins).
    pub(crate) fields: Fields<'a>,
}

impl Default for FlatFrame<'_> {
    fn default() -> Self {
        Self {
            op: None,
            ch: None,
            symbol: None,
            ts: None,
            pong: None,
            data: Data::Absent,
            fields: [const { None }; key::COUNT],
        }
    }
}

impl<'a> FlatFrame<'a> {
    fn set(&mut self, which: TopKey, value: Scalar<'a>) {
        let slot = match which {
            TopKey::Op => &mut self.op,
            TopKey::Ch => &mut self.ch,
            TopKey::Symbol => &mut self.symbol,
            TopKey::Ts => &mut self.ts,
            TopKey::Pong => &mut self.pong,
            TopKey::Data => {
                if matches!(self.data, Data::Absent) {
                    self.data = Data::Other(value);
                }
                return;
            }
            TopKey::Other => return,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }

    /// The `data` slot `slot`, if `data` is an object holding it.
    pub(crate) fn data_field(&self, slot: usize) -> Option<&Scalar<'a>> {
        self.fields.get(slot).and_then(Option::as_ref)
    }
}

/// Why a document could not be flattened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The top level is not an object.
    NotAnObject,
    /// The tape did not have the expected structure (should not happen for valid JSON).
    Malformed,
}

// ---------------------------------------------------------------------------------------
// simd-json tape walk
// ---------------------------------------------------------------------------------------

/// Number of tape nodes the value at `idx` occupies (itself plus its contents).
fn width(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count.saturating_add(1),
        _ => 1,
    }
}

fn scalar_of<'a>(node: &Node<'a>) -> Scalar<'a> {
    match node {
        Node::String(s) => Scalar::Str(Cow::Borrowed(s)),
        Node::Object { .. } => Scalar::Object,
        Node::Array { .. } => Scalar::Array,
        Node::Static(StaticNode::I64(v)) => Scalar::Int(*v),
        Node::Static(StaticNode::U64(v)) => i64::try_from(*v).map_or(Scalar::BigInt, Scalar::Int),
        Node::Static(StaticNode::F64(_)) => Scalar::Float,
        Node::Static(StaticNode::Bool(b)) => Scalar::Bool(*b),
        Node::Static(StaticNode::Null) => Scalar::Null,
    }
}

/// Walks the members of the object whose header is at `start`, calling `visit(key, idx)`
/// with the tape index of each value.
fn walk_object<'a>(
    nodes: &[Node<'a>],
    start: usize,
    mut visit: impl FnMut(&'a str, usize),
) -> Result<(), Shape> {
    let Some(Node::Object { len, .. }) = nodes.get(start) else {
        return Err(Shape::NotAnObject);
    };
    let mut idx = start + 1;
    for _ in 0..*len {
        let Some(Node::String(name)) = nodes.get(idx) else {
            return Err(Shape::Malformed);
        };
        let value_idx = idx + 1;
        let value = nodes.get(value_idx).ok_or(Shape::Malformed)?;
        visit(name, value_idx);
        idx = value_idx + width(value);
    }
    Ok(())
}

/// Flattens a simd-json tape into `frame` (which must be fresh: [`FlatFrame::default`]).
pub(crate) fn from_tape<'a>(nodes: &[Node<'a>], frame: &mut FlatFrame<'a>) -> Result<(), Shape> {
    let mut data_idx = None;
    walk_object(nodes, 0, |name, idx| {
        let which = top_key(name);
        if which == TopKey::Data && matches!(nodes.get(idx), Some(Node::Object { .. })) {
            if data_idx.is_none() && matches!(frame.data, Data::Absent) {
                data_idx = Some(idx);
            }
            return;
        }
        if let Some(node) = nodes.get(idx) {
            frame.set(which, scalar_of(node));
        }
    })?;
    if let Some(start) = data_idx {
        let fields = &mut frame.fields;
        walk_object(nodes, start, |name, idx| {
            if let (Some(slot), Some(node)) = (data_slot(name), nodes.get(idx))
                && fields[slot].is_none()
            {
                fields[slot] = Some(scalar_of(node));
            }
        })?;
        frame.data = Data::Object;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// serde visitor (serde_json)
// ---------------------------------------------------------------------------------------

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Scalar::BigInt, Scalar::Int))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A key classified without allocating (escaped keys arrive as transient `&str`).
struct KeyOf<T>(T);

struct KeyVisitor<T>(fn(&str) -> T);

impl<T> Visitor<'_> for KeyVisitor<T> {
    type Value = KeyOf<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(KeyOf((self.0)(v)))
    }
}

impl<'de> Deserialize<'de> for KeyOf<TopKey> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor(top_key))
    }
}

impl<'de> Deserialize<'de> for KeyOf<Option<usize>> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor(data_slot))
    }
}

struct DataVisitor<'f, 'de>(&'f mut Fields<'de>);

impl<'de> Visitor<'de> for DataVisitor<'_, 'de> {
    type Value = Data<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the data member")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let fields = self.0;
        while let Some(KeyOf(slot)) = map.next_key::<KeyOf<Option<usize>>>()? {
            match slot {
                Some(slot) if fields[slot].is_none() => fields[slot] = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Data::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        ScalarVisitor.visit_seq(seq).map(Data::Other)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Data::Other(Scalar::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Data::Other(Scalar::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        ScalarVisitor.visit_u64(v).map(Data::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Data::Other(Scalar::Float))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Data::Other(Scalar::Str(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Data::Other(Scalar::Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Data::Other(Scalar::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Data::Other(Scalar::Null))
    }
}

struct DataSeed<'f, 'de>(&'f mut Fields<'de>);

impl<'de> de::DeserializeSeed<'de> for DataSeed<'_, 'de> {
    type Value = Data<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(DataVisitor(self.0))
    }
}

struct FrameVisitor;

impl<'de> Visitor<'de> for FrameVisitor {
    type Value = FlatFrame<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut frame = FlatFrame::default();
        while let Some(KeyOf(which)) = map.next_key::<KeyOf<TopKey>>()? {
            match which {
                TopKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
                TopKey::Data if matches!(frame.data, Data::Absent) => {
                    frame.data = map.next_value_seed(DataSeed(&mut frame.fields))?;
                }
                TopKey::Data => {
                    map.next_value::<IgnoredAny>()?;
                }
                other => {
                    let value = map.next_value()?;
                    frame.set(other, value);
                }
            }
        }
        Ok(frame)
    }
}

impl<'de> Deserialize<'de> for FlatFrame<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FrameVisitor)
    }
}
