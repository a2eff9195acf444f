//! config.json as text, before oci-spec's types have read it: whether it is
//! exactly one JSON document, and (for `berth check --strict`) which of its
//! fields berth does not know. serde ignores unknown fields, so a typo
//! ("namespace" for "namespaces") silently drops a setting; the known keys
//! are those the parsed config writes back.

use super::Findings;
use serde_json::Value;

/// The documents in `bytes` (one is right), or None when one is not JSON.
pub fn documents(bytes: &[u8]) -> Option<usize> {
    let stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
    let mut n = 0;
    for doc in stream {
        doc.ok()?;
        n += 1;
    }
    Some(n)
}

/// Warns of every key of `raw` that `known` (the parsed config written
/// back) lacks. Keys whose value is null or empty are left alone: the
/// config writes those back as absent.
pub fn unknown_fields(raw: &Value, known: &Value, path: &str, f: &mut Findings) {
    match (raw, known) {
        (Value::Object(r), Value::Object(k)) => {
            for (key, v) in r {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match k.get(key) {
                    Some(kv) => unknown_fields(v, kv, &at, f),
                    None if empty(v) => {}
                    None => f.warn(
                        "field.unknown",
                        at,
                        "berth does not know this field and ignores it",
                    ),
                }
            }
        }
        (Value::Array(r), Value::Array(k)) => {
            for (i, (rv, kv)) in r.iter().zip(k).enumerate() {
                unknown_fields(rv, kv, &format!("{path}[{i}]"), f);
            }
        }
        _ => {}
    }
}

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_documents() {
        assert_eq!(documents(b"{}"), Some(1));
        assert_eq!(documents(b" {} \n"), Some(1));
        assert_eq!(documents(b"{}{}"), Some(2));
        assert_eq!(documents(b"{} {\"a\":"), None);
    }

    #[test]
    fn names_unknown_keys_at_their_path() {
        let raw: Value =
            serde_json::from_str(r#"{"a":1,"typo":2,"l":[{"x":1,"y":2}],"n":null}"#).unwrap();
        let known: Value = serde_json::from_str(r#"{"a":1,"l":[{"x":1}]}"#).unwrap();
        let mut f = Findings::default();
        unknown_fields(&raw, &known, "", &mut f);
        let paths: Vec<_> = f.0.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(paths, ["l[0].y", "typo"]);
    }
}
