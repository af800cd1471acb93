//! A serde `Deserializer` over the position-carrying [`Node`] tree.
//!
//! Every error leaves with the position of the innermost node it concerns
//! (the key for an unknown field, the value for a bad value) and the path of
//! the field, so the derive-based types get exact line numbers for free.
//! Scalars are read as Prometheus's YAML library reads them for the type
//! asked for: `42` is a string where a string is wanted; an empty or `null`
//! value is the zero value of a list, map or string.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::yaml::{path_string, Node, Pos, Step, Value};

/// A deserialization error with the path and position it concerns.
#[derive(Debug)]
pub(crate) struct DeError {
    pub(crate) pos: Option<Pos>,
    pub(crate) path: Vec<Step>,
    pub(crate) message: String,
}

impl DeError {
    fn at(mut self, pos: Pos) -> DeError {
        self.pos.get_or_insert(pos);
        self
    }

    fn under(mut self, step: Step) -> DeError {
        self.path.insert(0, step);
        self
    }

    /// The dotted path of the field, empty at the top level.
    pub(crate) fn field(&self) -> String {
        path_string(&self.path)
    }

    /// `line 3, column 5: labels.a-b: message`, leaving out what is unknown.
    pub(crate) fn located(&self) -> String {
        let mut out = String::new();
        if let Some(pos) = self.pos {
            out = format!("line {}, column {}: ", pos.line, pos.column);
        }
        if !self.path.is_empty() {
            out.push_str(&self.field());
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> DeError {
        DeError {
            pos: None,
            path: Vec::new(),
            message: msg.to_string(),
        }
    }
}

/// Parses YAML `text` and deserializes `T` from it as `prometheus.yml` is
/// read (Go yaml.v2's reading of scalars, positions in every error); `None`
/// for an empty document.
pub(crate) fn from_str<T: de::DeserializeOwned>(text: &str) -> Result<Option<T>, DeError> {
    let root = super::yaml::parse(text).map_err(|e| DeError {
        pos: Some(e.pos),
        path: Vec::new(),
        message: e.message,
    })?;
    root.as_ref().map(from_node).transpose()
}

/// Deserializes `T` from `node`.
pub(crate) fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, DeError> {
    T::deserialize(NodeDe(node))
}

/// A YAML 1.1 boolean, as Prometheus's YAML library reads them.
pub(crate) fn yaml_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

#[derive(Clone, Copy)]
struct NodeDe<'de>(&'de Node);

impl<'de> NodeDe<'de> {
    fn scalar(&self, expected: &str) -> Result<&'de str, DeError> {
        match &self.0.value {
            Value::Scalar { text, .. } => Ok(text),
            Value::Seq(_) => Err(de::Error::custom(format!(
                "expected {expected}, got a list"
            ))),
            Value::Map(_) => Err(de::Error::custom(format!(
                "expected {expected}, got a mapping"
            ))),
        }
    }

    fn plain_scalar(&self, expected: &str) -> Result<&'de str, DeError> {
        match &self.0.value {
            Value::Scalar { plain: false, text } => Err(de::Error::custom(format!(
                "expected {expected}, got the quoted string {text:?}"
            ))),
            _ => self.scalar(expected),
        }
    }

    fn int<T: std::str::FromStr>(&self, expected: &str) -> Result<T, DeError> {
        let text = self.plain_scalar(expected)?;
        text.strip_prefix('+')
            .unwrap_or(text)
            .parse()
            .map_err(|_| de::Error::custom(format!("expected {expected}, got {text:?}")))
    }

    fn bool(&self) -> Result<bool, DeError> {
        let text = self.plain_scalar("true or false")?;
        yaml_bool(text)
            .ok_or_else(|| de::Error::custom(format!("expected true or false, got {text:?}")))
    }

    fn wrap<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| e.at(self.0.pos))
    }
}

macro_rules! ints {
    ($($method:ident $visit:ident $ty:ty,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let n: $ty = self.wrap(self.int(concat!("an integer (", stringify!($ty), ")")))?;
            self.wrap(visitor.$visit(n))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.0.value {
            Value::Seq(items) => visitor.visit_seq(SeqAccess { items, index: 0 }),
            Value::Map(entries) => visitor.visit_map(MapAccess { entries, index: 0 }),
            Value::Scalar { plain: true, .. } if self.0.is_null() => visitor.visit_unit(),
            Value::Scalar { text, plain: true } => {
                if let Some(b) = yaml_bool(text) {
                    visitor.visit_bool(b)
                } else if let Ok(n) = text.parse::<u64>() {
                    visitor.visit_u64(n)
                } else if let Ok(n) = text.parse::<i64>() {
                    visitor.visit_i64(n)
                } else {
                    visitor.visit_str(text)
                }
            }
            Value::Scalar { text, plain: false } => visitor.visit_str(text),
        };
        self.wrap(r)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let b = self.wrap(self.bool())?;
        self.wrap(visitor.visit_bool(b))
    }

    ints! {
        deserialize_i8 visit_i8 i8,
        deserialize_i16 visit_i16 i16,
        deserialize_i32 visit_i32 i32,
        deserialize_i64 visit_i64 i64,
        deserialize_u8 visit_u8 u8,
        deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32,
        deserialize_u64 visit_u64 u64,
        deserialize_f32 visit_f32 f32,
        deserialize_f64 visit_f64 f64,
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let text = if self.0.is_null() {
            ""
        } else {
            self.wrap(self.scalar("a string"))?
        };
        self.wrap(visitor.visit_borrowed_str(text))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            self.wrap(visitor.visit_none())
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.wrap(visitor.visit_unit())
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.0.value {
            Value::Seq(items) => visitor.visit_seq(SeqAccess { items, index: 0 }),
            _ if self.0.is_null() => visitor.visit_seq(SeqAccess {
                items: &[],
                index: 0,
            }),
            _ => Err(de::Error::custom("expected a list")),
        };
        self.wrap(r)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.0.value {
            Value::Map(entries) => visitor.visit_map(MapAccess { entries, index: 0 }),
            _ if self.0.is_null() => visitor.visit_map(MapAccess {
                entries: &[],
                index: 0,
            }),
            _ => Err(de::Error::custom("expected a mapping")),
        };
        self.wrap(r)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let text = self.wrap(self.scalar("a name"))?;
        self.wrap(visitor.visit_enum(text.into_deserializer()))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.wrap(visitor.visit_unit())
    }
}

struct SeqAccess<'de> {
    items: &'de [Node],
    index: usize,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(item) = self.items.get(self.index) else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(NodeDe(item))
            .map(Some)
            .map_err(|e| e.at(item.pos).under(Step::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.index)
    }
}

struct MapAccess<'de> {
    entries: &'de [(Node, Node)],
    index: usize,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, _)) = self.entries.get(self.index) else {
            return Ok(None);
        };
        seed.deserialize(NodeDe(key))
            .map(Some)
            .map_err(|e| e.at(key.pos))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((key, value)) = self.entries.get(self.index) else {
            return Err(de::Error::custom("value without a key"));
        };
        self.index += 1;
        let name = key.scalar().unwrap_or("?").to_string();
        seed.deserialize(NodeDe(value))
            .map_err(|e| e.at(value.pos).under(Step::Key(name)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.index)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::config::yaml::parse;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: u64,
        #[serde(default)]
        on: bool,
        #[serde(default)]
        s: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default)]
        list: Vec<Inner>,
        #[serde(default)]
        map: BTreeMap<String, String>,
        #[serde(default)]
        opt: Option<String>,
    }

    fn load(text: &str) -> Result<Outer, DeError> {
        let node = parse(text).unwrap().unwrap();
        from_node(&node)
    }

    #[test]
    fn reads_scalars_as_the_type_asks() {
        let o = load("list:\n  - {n: 3, on: yes, s: 42}\nmap: {a: 1}\nopt: ~\n").unwrap();
        assert_eq!(
            o.list,
            vec![Inner {
                n: 3,
                on: true,
                s: "42".into()
            }]
        );
        assert_eq!(o.map.get("a").map(String::as_str), Some("1"));
        assert_eq!(o.opt, None);
        assert_eq!(load("list:\nmap:\n").unwrap().list, vec![]);
    }

    #[test]
    fn errors_carry_path_and_position() {
        let e = load("list:\n  - n: 1\n  - n: x\n").unwrap_err();
        assert_eq!(e.field(), "list[1].n");
        assert_eq!(e.pos, Some(Pos { line: 3, column: 8 }));
        assert!(e.message.contains("\"x\""), "{}", e.message);

        let e = load("list:\n  - n: 1\n    bogus: 2\n").unwrap_err();
        assert_eq!(e.field(), "list[0]");
        assert_eq!(e.pos, Some(Pos { line: 3, column: 5 }));
        assert!(e.message.contains("unknown field `bogus`"), "{}", e.message);

        let e = load("list:\n  - n: '1'\n").unwrap_err();
        assert!(e.message.contains("quoted"), "{}", e.message);
    }
}
