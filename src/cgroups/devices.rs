//! linux.resources.devices as a rule list: deny everything, then the
//! user's rules in their order, then the devices every container has (as
//! runc does), so /dev/null and friends stay usable.

use super::CgroupError;
use oci_spec::runtime::{Linux, LinuxDeviceType};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    /// 'a', 'c' or 'b'.
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
    /// Its place in linux.resources.devices, for a rule of the user's.
    pub index: Option<usize>,
}

impl DeviceRule {
    /// The v1 devices.allow / devices.deny line: `c 1:3 rwm`, `a *:* rwm`.
    /// Letters other than r, w and m are dropped, as runc does on v1.
    pub fn v1_line(&self) -> String {
        let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.kind,
            n(self.major),
            n(self.minor),
            self.known_access()
        )
    }

    /// r, w and m as the rule has them, in that order.
    pub fn known_access(&self) -> String {
        "rwm".chars().filter(|c| self.access.contains(*c)).collect()
    }

    /// An error naming the rule's access field, with why.
    pub fn bad_access(&self, why: &str) -> CgroupError {
        let path = match self.index {
            Some(i) => format!("linux.resources.devices[{i}].access"),
            None => "linux.resources.devices".into(),
        };
        CgroupError::Unsupported {
            path,
            msg: format!("\"{}\" {why}", self.access),
        }
    }
}

fn allow(kind: char, major: Option<i64>, minor: Option<i64>, access: &str) -> DeviceRule {
    DeviceRule {
        allow: true,
        kind,
        major,
        minor,
        access: access.into(),
        index: None,
    }
}

/// What runc allows every container: mknod of anything, and the default
/// devices, /dev/pts/* and /dev/ptmx.
fn defaults() -> Vec<DeviceRule> {
    vec![
        allow('c', None, None, "m"),
        allow('b', None, None, "m"),
        allow('c', Some(1), Some(3), "rwm"),
        allow('c', Some(1), Some(8), "rwm"),
        allow('c', Some(1), Some(7), "rwm"),
        allow('c', Some(5), Some(0), "rwm"),
        allow('c', Some(1), Some(5), "rwm"),
        allow('c', Some(1), Some(9), "rwm"),
        allow('c', Some(136), None, "rwm"),
        allow('c', Some(5), Some(2), "rwm"),
    ]
}

/// The full list to apply. Without rules in the config the container still
/// gets only the defaults, as with runc.
pub fn rules_from_spec(linux: Option<&Linux>) -> Vec<DeviceRule> {
    let user = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().as_ref());
    let mut rules = vec![DeviceRule {
        allow: false,
        kind: 'a',
        major: None,
        minor: None,
        access: "rwm".into(),
        index: None,
    }];
    for (i, d) in user.into_iter().flatten().enumerate() {
        let kind = match d.typ() {
            Some(LinuxDeviceType::C) => 'c',
            Some(LinuxDeviceType::B) => 'b',
            _ => 'a',
        };
        let access = d
            .access()
            .clone()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "rwm".into());
        rules.push(DeviceRule {
            allow: d.allow(),
            kind,
            major: d.major(),
            minor: d.minor(),
            access,
            index: Some(i),
        });
    }
    rules.extend(defaults());
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_rules_keep_their_order_between_deny_all_and_defaults() {
        let linux: Linux = serde_json::from_str(
            r#"{"resources":{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":229,"access":"rw"},{"allow":false,"type":"b","major":8}]}}"#,
        )
        .unwrap();
        let r = rules_from_spec(Some(&linux));
        let lines: Vec<String> = r
            .iter()
            .map(|r| format!("{} {}", r.allow, r.v1_line()))
            .collect();
        assert_eq!(lines[0], "false a *:* rwm");
        assert_eq!(lines[1], "false a *:* rwm");
        assert_eq!(lines[2], "true c 10:229 rw");
        assert_eq!(lines[3], "false b 8:* rwm");
        assert_eq!(lines[4], "true c *:* m");
        assert_eq!(lines.len(), 4 + defaults().len());
    }

    #[test]
    fn access_letters_beyond_rwm_are_dropped_on_v1() {
        let linux: Linux = serde_json::from_str(
            r#"{"resources":{"devices":[{"allow":true,"type":"c","major":1,"minor":3,"access":"rwmx"},{"allow":true,"type":"c","major":1,"minor":11,"access":"xwr"}]}}"#,
        )
        .unwrap();
        let r = rules_from_spec(Some(&linux));
        assert_eq!(r[1].v1_line(), "c 1:3 rwm");
        assert_eq!(r[2].v1_line(), "c 1:11 rw");
        assert_eq!(
            r[2].bad_access("x").to_string(),
            r#"linux.resources.devices[1].access: "xwr" x"#
        );
    }

    #[test]
    fn no_rules_still_deny_all_but_defaults() {
        let r = rules_from_spec(None);
        assert_eq!(r[0].v1_line(), "a *:* rwm");
        assert!(!r[0].allow);
        assert_eq!(r.len(), 1 + defaults().len());
    }
}
