//! The images in samples/ (rendered by `verigrade gen`, ground truth beside each) read back
//! to their recorded text and size, so what the README shows stays true.

use verigrade::synth::GroundTruth;
use verigrade::{Frame, ReadOptions, read};

#[test]
fn every_sample_reads_to_its_ground_truth() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "png") {
            continue;
        }
        let truth: GroundTruth =
            serde_json::from_str(&std::fs::read_to_string(path.with_extension("json")).unwrap())
                .unwrap();
        let frame = Frame::open(&path).unwrap();
        let reads = read(&frame, &ReadOptions::default());
        if truth.spec.damage_finder + truth.spec.damage_clock == 0
            && truth.errors_per_block.iter().all(|&e| e == 0)
        {
            assert_eq!(reads.len(), 1, "{}", path.display());
        }
        if let Some(r) = reads.first() {
            assert_eq!(r.decoded.text, truth.text, "{}", path.display());
            assert_eq!(r.size.name(), truth.size, "{}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 2, "samples/ holds the README's images");
}
