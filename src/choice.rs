//! Closed sets of named choices (a metric, a certification unit, a fusion method, …). Each enum's
//! names are spelled once, by its serde derivation, which also writes them into files; this
//! module reads them back for messages ([`Choice::name`]), for parsing ([`Choice::parse`]: the
//! nightly configuration, Python's arguments, the command line) and for the front ends' lists of
//! possible values ([`Choice::names`]).

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::ser::{self, Impossible, Serialize};

/// An enum of unit variants whose names are its serde names. Implemented with `choice!`.
pub trait Choice: Copy + Serialize + DeserializeOwned + 'static {
    /// What one of the choices is, for messages: "metric", "certification unit".
    const WHAT: &'static str;

    /// Every name, in declaration order.
    fn names() -> &'static [&'static str] {
        variant_names::<Self>()
    }

    /// This choice's name.
    fn name(self) -> &'static str {
        let mut name = "";
        let _ = self.serialize(VariantName(&mut name));
        name
    }

    /// The choice named `s`, or a message listing the names.
    fn parse(s: &str) -> std::result::Result<Self, String> {
        let d: de::value::StrDeserializer<'_, de::value::Error> = s.into_deserializer();
        Self::deserialize(d).map_err(|_| format!("unknown {} {s:?} (expected {})", Self::WHAT, one_of(Self::names())))
    }
}

/// `a`, `a or b`, `a, b or c`.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Implements [`Choice`] (with `WHAT`), `Display` (the name) and `FromStr` (by name, the error a
/// [`crate::error::Error::Invalid`]) for enums that derive serde's traits.
macro_rules! choice {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl $crate::choice::Choice for $ty {
            const WHAT: &'static str = $what;
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::choice::Choice::name(*self))
            }
        }
        impl std::str::FromStr for $ty {
            type Err = $crate::error::Error;
            fn from_str(s: &str) -> $crate::error::Result<Self> {
                <$ty as $crate::choice::Choice>::parse(s).map_err($crate::error::Error::Invalid)
            }
        }
    )*};
}
pub(crate) use choice;

/// The variant names serde's derivation declares for `T`, read by offering it a deserializer
/// that records them and gives up.
fn variant_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let names = Cell::new(&[][..]);
    let _ = T::deserialize(VariantNames(&names));
    names.get()
}

struct VariantNames<'a>(&'a Cell<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for VariantNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not an enum"))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(variants);
        Err(de::Error::custom("names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// A serializer that keeps the name of the unit variant it is given and refuses anything else.
struct VariantName<'a>(&'a mut &'static str);

#[derive(Debug)]
struct NotAUnitVariant;

impl fmt::Display for NotAUnitVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a unit variant")
    }
}

impl std::error::Error for NotAUnitVariant {}

impl ser::Error for NotAUnitVariant {
    fn custom<M: fmt::Display>(_: M) -> Self {
        NotAUnitVariant
    }
}

/// The serializer methods of values that are not unit variants: each refuses.
macro_rules! refuse {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Self::Ok, Self::Error> {
            Err(NotAUnitVariant)
        }
    )*};
}

impl ser::Serializer for VariantName<'_> {
    type Ok = ();
    type Error = NotAUnitVariant;
    type SerializeSeq = Impossible<(), NotAUnitVariant>;
    type SerializeTuple = Impossible<(), NotAUnitVariant>;
    type SerializeTupleStruct = Impossible<(), NotAUnitVariant>;
    type SerializeTupleVariant = Impossible<(), NotAUnitVariant>;
    type SerializeMap = Impossible<(), NotAUnitVariant>;
    type SerializeStruct = Impossible<(), NotAUnitVariant>;
    type SerializeStructVariant = Impossible<(), NotAUnitVariant>;

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), NotAUnitVariant> {
        *self.0 = variant;
        Ok(())
    }

    refuse! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
        serialize_u64(u64), serialize_f32(f32), serialize_f64(f64), serialize_char(char),
        serialize_str(&str), serialize_bytes(&[u8]), serialize_none(), serialize_unit(),
        serialize_unit_struct(&'static str),
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, _: &T) -> Result<(), NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
}
