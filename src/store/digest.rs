//! SHA-256 digests of records and audit entries. Each value goes in with its type and length,
//! so no two different records share an encoding ("ab","c" is not "a","bc").

use super::sql::{Row, Value};
use crate::error::Result;
use sha2::{Digest as _, Sha256};

/// A SHA-256 being fed a record's values.
pub struct Digest(Sha256);

impl Digest {
    pub fn new() -> Digest {
        Digest(Sha256::new())
    }

    /// Adds one stored value.
    pub fn value(&mut self, value: &Value) -> &mut Digest {
        match value {
            Value::Null => self.0.update([0u8]),
            Value::Integer(i) => return self.integer(*i),
            Value::Real(r) => {
                self.0.update([2u8]);
                self.0.update(r.to_le_bytes());
            }
            Value::Text(text) => return self.text(text),
            Value::Blob(bytes) => return self.blob(bytes),
        }
        self
    }

    pub fn text(&mut self, text: &str) -> &mut Digest {
        self.bytes(3, text.as_bytes());
        self
    }

    pub fn blob(&mut self, blob: &[u8]) -> &mut Digest {
        self.bytes(4, blob);
        self
    }

    pub fn integer(&mut self, i: i64) -> &mut Digest {
        self.0.update([1u8]);
        self.0.update(i.to_le_bytes());
        self
    }

    fn bytes(&mut self, tag: u8, bytes: &[u8]) {
        self.0.update([tag]);
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// Adds every column of a row, in order.
    pub fn row(&mut self, row: &Row) -> &mut Digest {
        for value in row.values() {
            self.value(value);
        }
        self
    }

    /// The digest, as 64 lower-case hex digits.
    pub fn hex(&self) -> String {
        hex(&self.0.clone().finalize())
    }
}

/// Lower-case hex digits of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 15)] as char);
    }
    text
}

/// The digest of a row's columns, for `query_row` and the like.
pub fn of_row(row: &Row) -> Result<String> {
    Ok(Digest::new().row(row).hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_framed_so_shifted_boundaries_differ() {
        let ab_c = Digest::new().text("ab").text("c").hex();
        let a_bc = Digest::new().text("a").text("bc").hex();
        assert_ne!(ab_c, a_bc);
        let text = Digest::new().text("1").hex();
        let integer = Digest::new().integer(1).hex();
        assert_ne!(text, integer);
        assert_eq!(ab_c.len(), 64);
    }

    #[test]
    fn the_empty_digest_is_sha256_of_nothing() {
        // SHA-256 of the empty string, from FIPS 180-4's examples.
        assert_eq!(
            Digest::new().hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
