//! config.json: read once, parsed once into oci-spec's `Spec`, and checked
//! before anything is created. Every error names the JSON path it is about.
//! Data and its validation only: nothing here looks at the host or names
//! a piece (checks against the host are the container layer's, check.rs).

mod default;
mod findings;
mod limits;
mod list;
mod raw;
mod validate;

pub use default::{default_spec, spec_text};
pub use findings::{Finding, Findings, Severity};
pub use list::parse_list;
use oci_spec::runtime::Spec;
use std::path::Path;
pub use validate::{PROPAGATIONS, hook_lists, ns_name};

/// The runtime-spec version berth implements and reports.
pub const SPEC_VERSION: &str = "1.2.1";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config.json: {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config.json: {0}")]
    Syntax(String),
    /// `path` is the JSON path of the offending value, e.g. `linux.namespaces[2].type`.
    #[error("config.json: {path}: {msg}")]
    Invalid { path: String, msg: String },
}

impl ConfigError {
    pub fn invalid(path: impl Into<String>, msg: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

/// Reads `BUNDLE/config.json`, parses and validates it.
pub fn load(bundle: &Path) -> Result<Spec, ConfigError> {
    let file = bundle.join("config.json");
    let bytes = std::fs::read(&file).map_err(|source| ConfigError::Read {
        path: file.display().to_string(),
        source,
    })?;
    let spec = parse(&bytes)?;
    validate::validate(&spec)?;
    Ok(spec)
}

/// The checks `load` makes, on a config already parsed.
pub fn validate(spec: &Spec) -> Result<(), ConfigError> {
    validate::validate(spec)
}

/// `berth check`'s static part: every problem of config.json's text, in
/// `findings`, and the config if it could be read at all. `strict` adds
/// warnings for what berth accepts leniently (fields it does not know).
pub fn check(bytes: &[u8], strict: bool, findings: &mut Findings) -> Option<Spec> {
    match raw::documents(bytes) {
        Some(1) => {}
        Some(0) => {
            findings.error("config.empty", "config.json", "holds no JSON document");
            return None;
        }
        Some(n) => {
            findings.error(
                "config.documents",
                "config.json",
                format!("holds {n} JSON documents: it must be exactly one"),
            );
            return None;
        }
        None => {}
    }
    let spec = match parse(bytes) {
        Ok(s) => s,
        Err(ConfigError::Invalid { path, msg }) => {
            findings.error("config.type", path, msg);
            return None;
        }
        Err(e) => {
            let msg = e.to_string();
            let msg = msg.strip_prefix("config.json: ").unwrap_or(&msg);
            findings.error("config.syntax", "config.json", msg);
            return None;
        }
    };
    validate::collect(&spec, strict, findings);
    if strict
        && let (Ok(raw), Ok(known)) = (
            serde_json::from_slice::<serde_json::Value>(bytes),
            serde_json::to_value(&spec),
        )
    {
        raw::unknown_fields(&raw, &known, "", findings);
    }
    Some(spec)
}

/// The text of a uid_map or gid_map file.
pub fn id_map_text(maps: &[oci_spec::runtime::LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

pub fn parse(bytes: &[u8]) -> Result<Spec, ConfigError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let spec: Spec = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() || path == "." {
            ConfigError::Syntax(format!("invalid JSON: {inner}"))
        } else {
            ConfigError::invalid(path.clone(), describe(&path, &inner.to_string()))
        }
    })?;
    Ok(spec)
}

/// Turns serde's wording into the user's: `unknown variant `foo`, expected
/// one of ...` becomes `unknown namespace type "foo"` where the path says
/// what kind of value it is.
fn describe(path: &str, serde_msg: &str) -> String {
    // serde_json appends " at line L column C"; the JSON path says more.
    let msg = serde_msg.split(" at line ").next().unwrap_or(serde_msg);
    let Some(rest) = msg.strip_prefix("unknown variant `") else {
        return msg.replace('`', "\"");
    };
    let value = rest.split('`').next().unwrap_or("");
    let kind = if path.contains("namespaces[") {
        "namespace type"
    } else if path.contains("rlimits[") {
        "rlimit type"
    } else if path.contains("capabilities") {
        "capability"
    } else if path.contains("seccomp") {
        "seccomp value"
    } else {
        "value"
    };
    format!("unknown {kind} \"{value}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        parse(json.as_bytes())
            .and_then(|s| validate::validate(&s).map(|_| s))
            .unwrap_err()
            .to_string()
    }

    const MIN: &str = r#""ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}}"#;

    #[test]
    fn unknown_namespace_type_names_the_path() {
        let e = err(&format!(
            r#"{{{MIN},"linux":{{"namespaces":[{{"type":"pid"}},{{"type":"mount"}},{{"type":"foo"}}]}}}}"#
        ));
        assert_eq!(
            e,
            r#"config.json: linux.namespaces[2].type: unknown namespace type "foo""#
        );
    }

    #[test]
    fn wrong_type_names_the_path() {
        let e = err(&format!(r#"{{{MIN},"hostname":5}}"#));
        assert!(
            e.starts_with("config.json: hostname: invalid type: integer `5`")
                || e.starts_with("config.json: hostname: invalid type: integer \"5\""),
            "{e}"
        );
    }

    #[test]
    fn bad_json_is_a_syntax_error() {
        let e = err("{\"ociVersion\": ");
        assert!(e.starts_with("config.json: invalid JSON: "), "{e}");
    }

    #[test]
    fn unknown_capability_is_an_error() {
        let e = err(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},"capabilities":{"bounding":["CAP_CHOWN","CAP_LOL"]}}}"#,
        );
        assert!(
            e.starts_with("config.json: process.capabilities.bounding"),
            "{e}"
        );
        assert!(e.contains("CAP_LOL") || e.contains("LOL"), "{e}");
    }
}
