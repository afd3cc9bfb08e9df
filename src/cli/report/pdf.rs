//! The lab report as PDF (A4): the summary on its own pages, then each image from the top of
//! a new page — its picture as an embedded grey image with the outline, grid and modules drawn
//! over it as vectors, each symbol's parameters with their grade and bar, and the reasons.
//! Text is set in the PDF's standard fonts, so nothing is embedded but the pictures.

use super::{ImageRecord, image_reasons};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};
use verigrade::geometry::Point;
use verigrade::profile::Profile;
use verigrade::report::{GRADE_COLOURS, GradeBar, Picture, hundredths};
use verigrade::verdict::{Parameter, SymbolRecord, letter, verdict_word};

/// A4 portrait, in points.
const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 42.0;
/// The longest side of a picture on the page, in points.
const PICTURE_PT: f32 = 230.0;

const REGULAR: Name = Name(b"F1");
const BOLD: Name = Name(b"F2");
const MONO: Name = Name(b"F3");

/// One page being laid out: its content and the pictures it shows.
struct Page<'a> {
    content: Content,
    pictures: Vec<&'a Picture>,
}

/// The pages laid out so far and the cursor: the baseline of the next line, from the bottom.
struct Layout<'a> {
    pages: Vec<Page<'a>>,
    y: f32,
}

impl<'a> Layout<'a> {
    fn new() -> Self {
        let mut layout = Layout {
            pages: Vec::new(),
            y: 0.0,
        };
        layout.new_page();
        layout
    }

    fn new_page(&mut self) {
        self.pages.push(Page {
            content: Content::new(),
            pictures: Vec::new(),
        });
        self.y = PAGE_HEIGHT - MARGIN;
    }

    /// Room for `height` more points on this page, else a new one.
    fn room(&mut self, height: f32) {
        if self.y - height < MARGIN {
            self.new_page();
        }
    }

    fn content(&mut self) -> &mut Content {
        &mut self.pages.last_mut().expect("a layout has a page").content
    }

    /// `text` at `x` on the current line, in black.
    fn text_at(&mut self, x: f32, font: Name, size: f32, text: &str) {
        self.text_in(0.0, x, font, size, text);
    }

    /// `text` at `x` on the current line, in a grey from 0 (black) to 1 (white).
    fn text_in(&mut self, grey: f32, x: f32, font: Name, size: f32, text: &str) {
        let y = self.y;
        let text = printable(text);
        self.content()
            .set_fill_gray(grey)
            .begin_text()
            .set_font(font, size)
            .next_line(x, y)
            .show(Str(text.as_bytes()))
            .end_text();
    }

    /// A line of text at the left margin, then the cursor moves below it.
    fn line(&mut self, font: Name, size: f32, text: &str) {
        self.room(size * 1.4);
        self.y -= size;
        self.text_at(MARGIN, font, size, text);
        self.y -= size * 0.45;
    }

    /// Text wrapped to the page's width (at spaces), a line at a time.
    fn paragraph(&mut self, font: Name, size: f32, text: &str) {
        // Helvetica's characters average about half the font size wide.
        let per_line = ((PAGE_WIDTH - 2.0 * MARGIN) / (size * 0.5)) as usize;
        let mut current = String::new();
        for word in text.split(' ') {
            if !current.is_empty() && current.len() + 1 + word.len() > per_line {
                self.line(font, size, &current);
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        if !current.is_empty() {
            self.line(font, size, &current);
        }
    }

    /// A filled rectangle (x, y from the bottom left).
    fn fill(&mut self, [x, y, w, h]: [f32; 4], colour: &str) {
        let (r, g, b) = rgb(colour);
        self.content()
            .set_fill_rgb(r, g, b)
            .rect(x, y, w, h)
            .fill_nonzero();
    }

    /// The picture with the symbols drawn over it, its top left at the cursor.
    fn picture(&mut self, picture: &'a Picture, symbols: &[SymbolRecord]) {
        let longest = picture.width.max(picture.height) as f32;
        let k = PICTURE_PT / longest;
        let (w, h) = (picture.width as f32 * k, picture.height as f32 * k);
        self.room(h + 8.0);
        let (left, top) = (MARGIN, self.y);
        let page = self.pages.last_mut().expect("a layout has a page");
        let name = image_name(page.pictures.len());
        page.pictures.push(picture);
        // A picture pixel to the page: y runs up on the page, down in the picture.
        let to_page = |p: Point| {
            let q = picture.at(p);
            (left + q.x as f32 * k, top - q.y as f32 * k)
        };
        let content = &mut page.content;
        content
            .save_state()
            .transform([w, 0.0, 0.0, h, left, top - h])
            .x_object(Name(name.as_bytes()))
            .restore_state();
        for symbol in symbols {
            let modules = &symbol.grading.modules;
            let (rows, cols) = (symbol.size.rows, symbol.size.cols);
            if modules.len() != rows * cols {
                continue;
            }
            // The grid: a line through the module centres of every row and every column.
            content.set_stroke_rgb(0.17, 0.51, 0.73).set_line_width(0.3);
            let lines = (0..rows)
                .map(|r| (0..cols).map(|c| r * cols + c).collect::<Vec<_>>())
                .chain((0..cols).map(|c| (0..rows).map(|r| r * cols + c).collect()));
            for line in lines {
                for (n, &i) in line.iter().enumerate() {
                    let (x, y) = to_page(modules[i].centre);
                    if n == 0 {
                        content.move_to(x, y);
                    } else {
                        content.line_to(x, y);
                    }
                }
                content.stroke();
            }
            let radius = (symbol.grading.x_dimension_px / picture.scale) as f32 * k * 0.28;
            for m in modules {
                let (x, y) = to_page(m.centre);
                let (r, g, b) = rgb(GRADE_COLOURS[m.margin_grade.min(4) as usize]);
                content.set_fill_rgb(r, g, b);
                circle(content, x, y, radius);
                content.fill_nonzero();
                if m.codeword_in_error {
                    content
                        .set_stroke_rgb(0.75, 0.0, 0.75)
                        .set_line_width((radius * 0.5).max(0.4));
                    circle(content, x, y, radius);
                    content.stroke();
                }
            }
            content.set_stroke_rgb(0.17, 0.51, 0.73).set_line_width(1.0);
            for (n, &corner) in symbol.corners.iter().enumerate() {
                let (x, y) = to_page(corner);
                if n == 0 {
                    content.move_to(x, y);
                } else {
                    content.line_to(x, y);
                }
            }
            content.close_and_stroke();
        }
        self.y = top - h - 8.0;
    }

    /// A symbol's headline, its parameters as a table with grades and bars, its reasons.
    fn symbol(&mut self, symbol: &SymbolRecord) {
        let verdict = verdict_word(symbol.pass()).to_uppercase();
        self.line(
            BOLD,
            10.0,
            &format!(
                "{verdict}  {} ({})  {}  {}",
                symbol.notation,
                symbol.letter(),
                symbol.size.name(),
                symbol.symbology_identifier
            ),
        );
        self.line(
            MONO,
            8.0,
            &symbol.hri().unwrap_or_else(|| symbol.text.clone()),
        );
        const ROW: f32 = 13.0;
        for p in Parameter::ALL {
            self.room(ROW);
            self.y -= ROW;
            let m = symbol.parameter(p);
            let value = m.shown_value();
            self.text_at(MARGIN, REGULAR, 8.5, p.iso_name());
            if let Some(v) = value {
                self.text_at(MARGIN + 150.0, REGULAR, 8.5, &format!("{v:.2}"));
            }
            let grade = m.grade.min(4) as usize;
            self.fill(
                [MARGIN + 185.0, self.y - 3.0, 14.0, 11.0],
                GRADE_COLOURS[grade],
            );
            // White on the dark ends of the scale (A, F), as in the HTML report.
            let grey = if grade == 4 || grade == 0 { 1.0 } else { 0.0 };
            self.text_in(grey, MARGIN + 189.0, BOLD, 8.5, letter(m.grade));
            if let Some(bar) = value.and_then(|v| GradeBar::of(p, v)) {
                const BAR: f32 = 150.0;
                let (x, y) = (MARGIN + 210.0, self.y - 1.0);
                for ((from, to), colour) in bar.bands.iter().zip(GRADE_COLOURS) {
                    let (from, to) = (*from as f32, *to as f32);
                    self.fill([x + from * BAR, y, (to - from) * BAR, 7.0], colour);
                }
                self.fill(
                    [x + bar.mark as f32 * BAR - 1.0, y - 2.0, 2.0, 11.0],
                    "#000000",
                );
            }
        }
        let growth = &symbol.grading.print_growth;
        self.room(ROW);
        self.y -= ROW;
        self.text_at(MARGIN, REGULAR, 8.5, "Print Growth (informative)");
        self.text_at(
            MARGIN + 150.0,
            REGULAR,
            8.5,
            &format!(
                "{:+.2} / {:+.2}  horizontal / vertical",
                hundredths(growth.horizontal),
                hundredths(growth.vertical)
            ),
        );
        self.y -= 6.0;
        for reason in &symbol.reasons {
            self.paragraph(REGULAR, 8.5, &format!("- {reason}"));
        }
        self.y -= 6.0;
    }
}

/// A circle as four Bézier arcs.
fn circle(content: &mut Content, x: f32, y: f32, r: f32) {
    // The control-point distance that makes a quarter arc of a circle.
    let c = r * 0.552_284_8;
    content
        .move_to(x + r, y)
        .cubic_to(x + r, y + c, x + c, y + r, x, y + r)
        .cubic_to(x - c, y + r, x - r, y + c, x - r, y)
        .cubic_to(x - r, y - c, x - c, y - r, x, y - r)
        .cubic_to(x + c, y - r, x + r, y - c, x + r, y)
        .close_path();
}

/// `#rrggbb` as PDF's 0..1 components.
fn rgb(hex: &str) -> (f32, f32, f32) {
    let channel = |i: usize| {
        u8::from_str_radix(hex.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0) as f32 / 255.0
    };
    (channel(1), channel(3), channel(5))
}

/// Text the standard fonts can show: printable ASCII, GS as `<GS>`, anything else as `?`.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{1d}' => "<GS>".to_string(),
            '—' | '–' => "-".to_string(),
            '·' => "*".to_string(),
            ' '..='~' => c.to_string(),
            _ => "?".to_string(),
        })
        .collect()
}

fn image_name(index: usize) -> String {
    format!("Im{index}")
}

pub fn pdf(records: &[ImageRecord], profile: &Profile) -> Vec<u8> {
    let mut layout = Layout::new();
    let passed = records.iter().filter(|r| r.pass()).count();
    layout.line(BOLD, 18.0, "Data Matrix print quality report");
    layout.y -= 4.0;
    layout.paragraph(
        REGULAR,
        10.0,
        &format!("Profile {} - {}", profile.name, profile.description),
    );
    layout.line(
        REGULAR,
        10.0,
        &format!(
            "Graded per ISO/IEC 15415 by verigrade {} on {} (UTC).",
            env!("CARGO_PKG_VERSION"),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        ),
    );
    layout.line(
        REGULAR,
        10.0,
        &format!(
            "{} images: {passed} passed, {} failed.",
            records.len(),
            records.len() - passed
        ),
    );
    layout.paragraph(
        REGULAR,
        8.5,
        "Modules are coloured by their reflectance margin grade (green A, light green B, yellow C, \
         orange D, red F); a magenta ring marks a module of a codeword read in error. Bars run \
         from F (left) to A (right), the black mark at the measured value.",
    );
    layout.y -= 8.0;
    for r in records {
        let record = r.record();
        let data = record
            .and_then(|f| f.first())
            .map(|s| s.hri().unwrap_or_else(|| s.text.clone()))
            .unwrap_or_default();
        layout.line(
            REGULAR,
            8.5,
            &format!(
                "{}  {}  {}  {}",
                verdict_word(r.pass()).to_uppercase(),
                record.map_or("", |f| &f.notation),
                r.path,
                data
            ),
        );
    }
    for r in records {
        layout.new_page();
        layout.line(
            BOLD,
            13.0,
            &format!("{}  {}", r.path, verdict_word(r.pass()).to_uppercase()),
        );
        layout.y -= 4.0;
        let symbols = r.record().map_or(&[][..], |f| &f.symbols[..]);
        if let Some(picture) = &r.picture {
            layout.picture(picture, symbols);
        }
        for symbol in symbols {
            layout.symbol(symbol);
        }
        let reasons = image_reasons(r);
        if !reasons.is_empty() {
            layout.line(BOLD, 9.0, "The image fails:");
            for reason in reasons {
                layout.paragraph(REGULAR, 8.5, &format!("- {reason}"));
            }
        }
    }
    write(layout.pages)
}

/// The laid-out pages as a PDF file.
fn write(pages: Vec<Page>) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let mut next = 1;
    let mut new_ref = || {
        next += 1;
        Ref::new(next)
    };
    let catalog = Ref::new(1);
    let tree = new_ref();
    let fonts = [
        (REGULAR, new_ref(), "Helvetica"),
        (BOLD, new_ref(), "Helvetica-Bold"),
        (MONO, new_ref(), "Courier"),
    ];
    let page_refs: Vec<(Ref, Ref)> = pages.iter().map(|_| (new_ref(), new_ref())).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_refs.iter().map(|(page, _)| *page))
        .count(pages.len() as i32);
    for (_, id, base) in &fonts {
        pdf.type1_font(*id)
            .base_font(Name(base.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (page, (page_id, content_id)) in pages.into_iter().zip(page_refs) {
        let image_ids: Vec<Ref> = page.pictures.iter().map(|_| new_ref()).collect();
        let names: Vec<String> = (0..page.pictures.len()).map(image_name).collect();
        let mut writer = pdf.page(page_id);
        writer
            .media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
            .parent(tree)
            .contents(content_id);
        let mut resources = writer.resources();
        let mut font_map = resources.fonts();
        for (name, id, _) in &fonts {
            font_map.pair(*name, *id);
        }
        font_map.finish();
        let mut images = resources.x_objects();
        for (name, id) in names.iter().zip(&image_ids) {
            images.pair(Name(name.as_bytes()), *id);
        }
        images.finish();
        resources.finish();
        writer.finish();
        let content = miniz_oxide::deflate::compress_to_vec_zlib(&page.content.finish(), 6);
        pdf.stream(content_id, &content).filter(Filter::FlateDecode);
        for (picture, id) in page.pictures.iter().zip(&image_ids) {
            let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&picture.pixels, 6);
            let mut image = pdf.image_xobject(*id, &compressed);
            image.filter(Filter::FlateDecode);
            image
                .width(picture.width as i32)
                .height(picture.height as i32)
                .bits_per_component(8);
            image.color_space().device_gray();
            image.finish();
        }
    }
    pdf.finish()
}
