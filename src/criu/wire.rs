//! The protobuf wire format, as much of it as CRIU's RPC messages use
//! (proto2, images/rpc.proto): varints (int32, uint32, bool, enums) and
//! length-delimited fields (strings, nested messages). Unknown fields of an
//! answer are skipped, so a newer CRIU's additions do no harm.

/// A message being written, field by field.
#[derive(Default, Debug, Clone)]
pub struct Writer(pub Vec<u8>);

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Writer {
    fn key(&mut self, field: u32, wire: u8) {
        varint(&mut self.0, (u64::from(field) << 3) | u64::from(wire));
    }

    /// int32 (a negative one is sign-extended to ten bytes, as protobuf
    /// says), uint32 and enums.
    pub fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.key(field, 0);
        varint(&mut self.0, v as u64);
        self
    }

    pub fn bool(&mut self, field: u32, v: bool) -> &mut Self {
        self.int(field, i64::from(v))
    }

    /// A bool written only when true: proto2's absent is false for every
    /// flag CRIU takes.
    pub fn flag(&mut self, field: u32, v: bool) -> &mut Self {
        if v { self.bool(field, true) } else { self }
    }

    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.key(field, 2);
        varint(&mut self.0, v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }

    pub fn str(&mut self, field: u32, v: &str) -> &mut Self {
        self.bytes(field, v.as_bytes())
    }

    pub fn msg(&mut self, field: u32, m: &Writer) -> &mut Self {
        self.bytes(field, &m.0)
    }
}

/// One field of a message read.
#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

impl Value<'_> {
    pub fn int(&self) -> i64 {
        match self {
            Value::Varint(v) => *v as i64,
            Value::Bytes(_) => 0,
        }
    }

    pub fn text(&self) -> String {
        match self {
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Varint(v) => v.to_string(),
        }
    }
}

fn read_varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The fields of a message in order, or None if it is not well formed.
pub fn fields(buf: &[u8]) -> Option<Vec<(u32, Value<'_>)>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < buf.len() {
        let key = read_varint(buf, &mut at)?;
        let field = u32::try_from(key >> 3).ok()?;
        let value = match key & 7 {
            0 => Value::Varint(read_varint(buf, &mut at)?),
            2 => {
                let n = usize::try_from(read_varint(buf, &mut at)?).ok()?;
                let end = at.checked_add(n).filter(|&e| e <= buf.len())?;
                let v = Value::Bytes(&buf[at..end]);
                at = end;
                v
            }
            // fixed64 and fixed32: none in CRIU's answers; skipped.
            1 => {
                at = at.checked_add(8).filter(|&e| e <= buf.len())?;
                continue;
            }
            5 => {
                at = at.checked_add(4).filter(|&e| e <= buf.len())?;
                continue;
            }
            _ => return None,
        };
        out.push((field, value));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_protobuf_writes() {
        // The examples of protobuf's encoding guide: field 1 = 150, and a
        // string "testing" as field 2.
        assert_eq!(Writer::default().int(1, 150).0, [0x08, 0x96, 0x01]);
        assert_eq!(
            Writer::default().str(2, "testing").0,
            [0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g']
        );
        // A negative int32 takes ten bytes.
        assert_eq!(Writer::default().int(1, -1).0.len(), 11);
        assert!(Writer::default().flag(3, false).0.is_empty());
    }

    #[test]
    fn read_back() {
        let mut inner = Writer::default();
        inner.int(1, 4242);
        let mut w = Writer::default();
        w.int(1, 2).bool(2, true).msg(4, &inner).str(9, "oops");
        let f = fields(&w.0).unwrap();
        assert_eq!(f[0], (1, Value::Varint(2)));
        assert_eq!(f[1], (2, Value::Varint(1)));
        let Value::Bytes(b) = f[2].1 else { panic!() };
        assert_eq!(fields(b).unwrap()[0].1.int(), 4242);
        assert_eq!(f[3].1.text(), "oops");
        // Truncated: a length past the end.
        assert!(fields(&[0x12, 0x07, b't']).is_none());
    }
}
