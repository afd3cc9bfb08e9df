//! GS1 data as a symbol or a person gives it: element strings, HRI, and the checks of the
//! `gs1` command and of a line's expected GTIN, batch and expiry.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use verigrade::gs1::{self, AiTable};
use verigrade::profile::Profile;
use verigrade::verdict::Expected;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    static PROFILES: OnceLock<Vec<Profile>> = OnceLock::new();
    let profiles = PROFILES.get_or_init(|| {
        Profile::built_in_names()
            .into_iter()
            .map(|name| Profile::load(name).expect("built-in profiles load"))
            .collect()
    });
    let table = AiTable::builtin();
    for data in [
        gs1::parse(text),
        gs1::parse_hri(text),
        gs1::parse_element_string(text),
    ] {
        for profile in profiles {
            std::hint::black_box(profile.data.check(&data, &profile.name));
        }
        // Valid data survives the trip to the element string a symbol carries and back, and
        // to HRI (a `(` in data escaped) and back.
        let element_string = data.element_string(table);
        let hri = data.hri();
        if data.is_valid() {
            let again = gs1::parse_element_string(&element_string);
            assert_eq!(again.elements, data.elements, "{element_string:?}");
            let again = gs1::parse_hri(&hri);
            assert_eq!(again.elements, data.elements, "{hri:?}");
        }
    }
    // The same text as the GTIN, batch and expiry a line is told to print.
    let _ = std::hint::black_box(Expected::new(text, text, text));
});
