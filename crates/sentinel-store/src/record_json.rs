//! How a request record is kept in its row: the fields that have columns of
//! their own are written there only, and the rest as JSON beside them; a
//! read puts the two back together. Written once, a row takes about a
//! third less space than the whole record as JSON (ids are most of it),
//! which is less for SQLite to copy, checksum and write per record.
//!
//! Rows written before this layout hold the whole record as JSON; reading
//! them works the same, the columns agreeing with their JSON.

use sentinel_core::RequestRecord;
use serde::{
    Serialize, Serializer,
    ser::{Error as _, Impossible, SerializeStruct},
};
use serde_json::{Map, Value};

use crate::StoreError;

/// Record fields stored in columns of `request_records` (as written by
/// `insert_records`), so not repeated in the row's JSON.
const COLUMN_FIELDS: [&str; 12] = [
    "id",
    "org_id",
    "time",
    "env_id",
    "app_id",
    "key_id",
    "status",
    "error_code",
    "requested_model",
    "provider",
    "latency_ms",
    "cost_micros",
];

/// The JSON kept beside the columns: the record without [`COLUMN_FIELDS`].
pub(crate) fn to_row_json(record: &RequestRecord, capacity: usize) -> Result<String, StoreError> {
    let mut text = Vec::with_capacity(capacity);
    record
        .serialize(WithoutColumns(&mut serde_json::Serializer::new(&mut text)))
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    String::from_utf8(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored row's columns, in the order of [`record_columns`].
pub(crate) type RecordRow = (
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    String,
);

/// The columns a read selects to rebuild a record ([`RecordRow`]), for
/// `concat!` into a query's text.
macro_rules! record_columns {
    () => {
        "id, org_id, time, env_id, app_id, key_id, status, error_code, requested_model, provider, latency_ms, cost_micros, record"
    };
}
pub(crate) use record_columns;

/// The record a row holds: its JSON with the column values put back.
pub(crate) fn from_row(row: RecordRow) -> Result<RequestRecord, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let (
        id,
        org_id,
        time,
        env_id,
        app_id,
        key_id,
        status,
        error_code,
        model,
        provider,
        latency_ms,
        cost_micros,
        json,
    ) = row;
    let mut fields: Map<String, Value> = serde_json::from_str(&json).map_err(corrupt)?;
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            fields.insert(name.to_owned(), value);
        }
    };
    put("id", Some(id.into()));
    put("org_id", Some(org_id.into()));
    put("time", Some(time.into()));
    put("env_id", env_id.map(Value::from));
    put("app_id", app_id.map(Value::from));
    put("key_id", key_id.map(Value::from));
    put("status", Some(status.into()));
    put("error_code", error_code.map(Value::from));
    put("requested_model", model.map(Value::from));
    put("provider", provider.map(Value::from));
    put("latency_ms", latency_ms.map(Value::from));
    put("cost_micros", cost_micros.map(Value::from));
    serde_json::from_value(Value::Object(fields)).map_err(corrupt)
}

const NOT_A_RECORD: &str = "only a request record is written without its columns";

/// Serializes a struct without the fields in [`COLUMN_FIELDS`]; anything
/// else is an error (only `RequestRecord` goes through it).
struct WithoutColumns<S>(S);

/// [`WithoutColumns`]' struct: skips the column fields.
struct FieldsWithoutColumns<S>(S);

impl<S: SerializeStruct> SerializeStruct for FieldsWithoutColumns<S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        if COLUMN_FIELDS.contains(&key) {
            self.0.skip_field(key)
        } else {
            self.0.serialize_field(key, value)
        }
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

/// The serializer methods for values other than a struct: all refused.
macro_rules! not_a_record {
    ($($method:ident($($arg:ty),*);)*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<S::Ok, S::Error> {
            Err(S::Error::custom(NOT_A_RECORD))
        }
    )*};
}

impl<S: Serializer> Serializer for WithoutColumns<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = Impossible<S::Ok, S::Error>;
    type SerializeStruct = FieldsWithoutColumns<S::SerializeStruct>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.0.serialize_struct(name, len).map(FieldsWithoutColumns)
    }

    not_a_record! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<S::Ok, S::Error> {
        Err(S::Error::custom(NOT_A_RECORD))
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(S::Error::custom(NOT_A_RECORD))
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(S::Error::custom(NOT_A_RECORD))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Err(S::Error::custom(NOT_A_RECORD))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, S::Error> {
        Err(S::Error::custom(NOT_A_RECORD))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        Err(S::Error::custom(NOT_A_RECORD))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Err(S::Error::custom(NOT_A_RECORD))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Err(S::Error::custom(NOT_A_RECORD))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Err(S::Error::custom(NOT_A_RECORD))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use sentinel_core::{AttemptRecord, PolicyOutcome};

    use super::*;

    /// A record with every column field and more set.
    fn full() -> RequestRecord {
        RequestRecord {
            id: "01900000-0000-7000-8000-000000000001".into(),
            org_id: "o1".into(),
            time: 1_700_000_000_000,
            env_id: Some("e1".into()),
            env_name: Some("prod".into()),
            app_id: Some("a1".into()),
            app_name: Some("web".into()),
            key_id: Some("k1".into()),
            ingress: "chat_completions".into(),
            requested_model: Some("gpt".into()),
            provider: Some("openai".into()),
            upstream_model: Some("gpt-4o".into()),
            upstream_status: Some(502),
            status: 502,
            error_code: Some("upstream_error".into()),
            error_detail: Some("provider openai answered 502".into()),
            latency_ms: 41,
            ttfb_ms: Some(40),
            cost_micros: Some(12),
            attempts: vec![AttemptRecord {
                provider: "openai".into(),
                ..Default::default()
            }],
            policy: Some(PolicyOutcome {
                decision: "allowed".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn row(r: &RequestRecord, json: String) -> RecordRow {
        (
            r.id.clone(),
            r.org_id.clone(),
            r.time,
            r.env_id.clone(),
            r.app_id.clone(),
            r.key_id.clone(),
            i64::from(r.status),
            r.error_code.clone(),
            r.requested_model.clone(),
            r.provider.clone(),
            Some(r.latency_ms),
            r.cost_micros,
            json,
        )
    }

    #[test]
    fn the_row_json_leaves_out_the_columns_and_reads_back_whole() {
        for record in [full(), RequestRecord::default()] {
            let json = to_row_json(&record, 64).unwrap();
            let fields: Map<String, Value> = serde_json::from_str(&json).unwrap();
            for name in COLUMN_FIELDS {
                assert!(!fields.contains_key(name), "{name} in {json}");
            }
            assert!(fields.contains_key("ingress") && fields.contains_key("attempts"));
            assert_eq!(from_row(row(&record, json)).unwrap(), record);
        }
    }

    #[test]
    fn rows_holding_the_whole_record_read_the_same() {
        let record = full();
        let whole = serde_json::to_string(&record).unwrap();
        assert_eq!(from_row(row(&record, whole)).unwrap(), record);
    }

    #[test]
    fn only_a_struct_is_written() {
        let mut out = Vec::new();
        let error = "text"
            .serialize(WithoutColumns(&mut serde_json::Serializer::new(&mut out)))
            .unwrap_err();
        assert!(error.to_string().contains(NOT_A_RECORD));
    }
}
