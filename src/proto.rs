//! The gRPC contract (`proto/verigrade/v1/verigrade.proto`), generated at build time.

tonic::include_proto!("verigrade.v1");

/// The encoded descriptor set of the contract, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/verigrade_descriptor.bin"));

impl Verdict {
    /// The data a person reads: the HRI of GS1 data, the text otherwise.
    pub fn data(&self) -> &str {
        if self.hri.is_empty() {
            &self.text
        } else {
            &self.hri
        }
    }
}

impl Symbol {
    /// The data a person reads: the HRI of GS1 data, the text otherwise.
    pub fn data(&self) -> &str {
        if self.hri.is_empty() {
            &self.text
        } else {
            &self.hri
        }
    }
}

/// One line, as a log, a terminal or a PLC's display shows a verdict:
/// `L1/F7 #12 PASS B 3.0 16x16 "(01)…" — reasons (line stopped)`.
impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let outcome = if self.pass { "PASS" } else { "FAIL" };
        let data = self.data();
        write!(
            f,
            "{}/{} #{} {outcome} {} {:.1} {} {data:?}",
            self.line_id,
            self.frame_id,
            self.sequence,
            self.grade_letter,
            self.overall_grade,
            self.size
        )?;
        if !self.reasons.is_empty() {
            write!(f, " — {}", self.reasons.join("; "))?;
        }
        if self.line_stopped {
            write!(f, " (line stopped)")?;
        }
        Ok(())
    }
}
