//! The lab report `verigrade grade --report` files, as a self-contained printable HTML page
//! ([`html`]) or a PDF ([`pdf`]): a summary first (profile, totals, every image's verdict),
//! then per image its picture — the symbols cropped from the image, their outline, module grid
//! and every module coloured by its reflectance margin grade, the modules of codewords read in
//! error ringed — and per symbol every parameter with its value, grade and a bar against the
//! grade bounds, and the reasons. Both printers draw the same
//! [`verigrade::report::Picture`] and [`verigrade::report::GradeBar`].

mod html;
mod pdf;

pub use html::html;
pub use pdf::pdf;

use super::grade::ImageRecord;
use verigrade::verdict::Reason;

/// What fails an image as a whole, beside its symbols' own reasons: a wrong count, a repeated
/// serial, a file that is no image.
fn image_reasons(record: &ImageRecord) -> Vec<String> {
    match &record.outcome {
        Ok(frame) => {
            let of_first = frame.first().map_or(&[][..], |s| &s.reasons[..]);
            frame
                .reasons
                .iter()
                .filter(|reason| {
                    !of_first.contains(reason) && !matches!(reason, Reason::OfSymbol { .. })
                })
                .map(ToString::to_string)
                .collect()
        }
        Err(e) => vec![e.clone()],
    }
}
