//! 8-bit grey frames: decoded from an image file, or borrowed from a camera's raw buffer.
//!
//! A raw buffer (width, height, stride) is borrowed as it is; an encoded image is decoded once
//! into an owned grey buffer. Every later stage reads pixels through [`Frame`], never copies them.

use crate::error::{Error, Result};
use crate::geometry::Rect;
use image::{DynamicImage, ImageReader, Limits};
use std::borrow::Cow;
use std::io::{Cursor, Write};
use std::path::Path;

/// Frames above this many pixels are refused unless the caller raises the limit (a 5 MP
/// industrial camera gives 5 million; 64 million leaves room for flatbed scans).
pub const DEFAULT_MAX_PIXELS: usize = 64 << 20;

/// The image data a PNG file is written in, a chunk at a time.
const PNG_CHUNK_BYTES: usize = 64 << 10;

#[derive(Clone, Debug)]
pub struct Frame<'a> {
    width: usize,
    height: usize,
    stride: usize,
    pixels: Cow<'a, [u8]>,
}

impl<'a> Frame<'a> {
    /// Borrows an 8-bit mono buffer whose rows start `stride` bytes apart.
    pub fn from_raw(width: usize, height: usize, stride: usize, data: &'a [u8]) -> Result<Self> {
        Self::check_raw(width, height, stride, data.len())?;
        Ok(Frame {
            width,
            height,
            stride,
            pixels: Cow::Borrowed(data),
        })
    }

    /// Takes ownership of an 8-bit mono buffer (same layout rules as [`Frame::from_raw`]).
    pub fn from_owned(
        width: usize,
        height: usize,
        stride: usize,
        data: Vec<u8>,
    ) -> Result<Frame<'static>> {
        Self::check_raw(width, height, stride, data.len())?;
        Ok(Frame {
            width,
            height,
            stride,
            pixels: Cow::Owned(data),
        })
    }

    fn check_raw(width: usize, height: usize, stride: usize, len: usize) -> Result<()> {
        if width == 0 || height == 0 {
            return Err(Error::EmptyFrame { width, height });
        }
        if stride < width {
            return Err(Error::StrideTooSmall { stride, width });
        }
        let needed = stride
            .checked_mul(height - 1)
            .and_then(|n| n.checked_add(width))
            .unwrap_or(usize::MAX);
        if len < needed {
            return Err(Error::TruncatedFrame {
                width,
                height,
                stride,
                needed,
                got: len,
            });
        }
        Ok(())
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// The whole frame as a rectangle.
    pub fn rect(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }

    /// A borrowed view of `rect` (which must lie inside the frame): no pixel is copied.
    pub fn view(&self, rect: Rect) -> Frame<'_> {
        assert!(
            rect.width > 0
                && rect.height > 0
                && rect.x + rect.width <= self.width
                && rect.y + rect.height <= self.height,
            "view {rect:?} outside a {}x{} frame",
            self.width,
            self.height
        );
        let start = rect.y * self.stride + rect.x;
        let end = (rect.y + rect.height - 1) * self.stride + rect.x + rect.width;
        Frame {
            width: rect.width,
            height: rect.height,
            stride: self.stride,
            pixels: Cow::Borrowed(&self.pixels[start..end]),
        }
    }

    /// The frame shrunk by `factor` on each axis, each pixel the mean of a `factor`×`factor`
    /// block (a partial block at the right or bottom edge is dropped); `None` when that leaves
    /// nothing or `factor` is not 2 to 16. Pixel centres map as `x_full = factor × x_reduced`.
    pub fn reduced(&self, factor: usize) -> Option<Frame<'static>> {
        let (w, h) = (self.width / factor.max(1), self.height / factor.max(1));
        // At most 16 rows of 255 per column total.
        if !(2..=16).contains(&factor) || w == 0 || h == 0 {
            return None;
        }
        // Whole rows are summed into per-column totals first (a loop that vectorises), then
        // each block's columns are added up.
        let mut columns = vec![0u16; w * factor];
        let mut pixels = Vec::with_capacity(w * h);
        for y in 0..h {
            columns.fill(0);
            for row in y * factor..(y + 1) * factor {
                for (total, &p) in columns.iter_mut().zip(self.row(row)) {
                    *total += p as u16;
                }
            }
            // The reader's factor with its block's size known, so that the sum unrolls and
            // the division is a multiplication.
            match factor {
                3 => block_means::<3>(&columns, &mut pixels),
                _ => pixels.extend(columns.chunks_exact(factor).map(|block| {
                    let sum: u32 = block.iter().map(|&c| c as u32).sum();
                    rounded_mean(sum, factor)
                })),
            }
        }
        Frame::from_owned(w, h, w, pixels).ok()
    }

    pub fn row(&self, y: usize) -> &[u8] {
        let start = y * self.stride;
        &self.pixels[start..start + self.width]
    }

    #[inline]
    pub fn get(&self, x: usize, y: usize) -> u8 {
        self.pixels[y * self.stride + x]
    }

    /// Bilinear grey level at a sub-pixel position (pixel centres at integer + 0.5), clamped
    /// to the frame's border.
    #[inline]
    pub fn bilinear(&self, x: f64, y: f64) -> f64 {
        let fx = (x - 0.5).clamp(0.0, (self.width - 1) as f64);
        let fy = (y - 0.5).clamp(0.0, (self.height - 1) as f64);
        let x0 = fx as usize;
        let y0 = fy as usize;
        let x1 = (x0 + 1).min(self.width - 1);
        let y1 = (y0 + 1).min(self.height - 1);
        let ax = fx - x0 as f64;
        let ay = fy - y0 as f64;
        let top = self.get(x0, y0) as f64 * (1.0 - ax) + self.get(x1, y0) as f64 * ax;
        let bottom = self.get(x0, y1) as f64 * (1.0 - ax) + self.get(x1, y1) as f64 * ax;
        top * (1.0 - ay) + bottom * ay
    }

    pub fn contains(&self, x: f64, y: f64) -> bool {
        x >= 0.0 && y >= 0.0 && x < self.width as f64 && y < self.height as f64
    }

    /// Writes the frame to `out` as a PNG file, a row at a time, with fast compression
    /// (evidence is written on the grading path). Besides the frame it takes a few rows and a
    /// chunk of output, whatever the frame's size: a failed frame's evidence adds nothing the
    /// size of the frame to the memory of the frames being graded.
    pub fn write_png(&self, out: impl Write) -> Result<()> {
        let encode = |e: png::EncodingError| Error::Encode(e.to_string());
        let mut encoder = png::Encoder::new(out, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        encoder.set_filter(png::Filter::Sub);
        let mut png = encoder.write_header().map_err(encode)?;
        let mut rows = png
            .stream_writer_with_size(PNG_CHUNK_BYTES)
            .map_err(encode)?;
        for y in 0..self.height {
            rows.write_all(self.row(y))
                .map_err(|e| Error::Encode(e.to_string()))?;
        }
        rows.finish().map_err(encode)?;
        png.finish().map_err(encode)
    }
}

impl Frame<'static> {
    /// Decodes an encoded image (PNG, JPEG, BMP, TIFF, PGM/PNM, WebP) to 8-bit grey.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::decode_limited(bytes, DEFAULT_MAX_PIXELS)
    }

    /// As [`Frame::decode`], refusing images of more than `max_pixels` before decoding them.
    pub fn decode_limited(bytes: &[u8], max_pixels: usize) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::Image("empty input".into()));
        }
        let mut reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| Error::Image(e.to_string()))?;
        if reader.format().is_none() {
            return Err(Error::Image("unknown image format".into()));
        }
        let (w, h) = reader
            .into_dimensions()
            .map_err(|e| Error::Image(e.to_string()))?;
        let pixels = w as usize * h as usize;
        if pixels > max_pixels {
            return Err(Error::FrameTooLarge {
                pixels,
                limit: max_pixels,
            });
        }
        if pixels == 0 {
            return Err(Error::EmptyFrame {
                width: w as usize,
                height: h as usize,
            });
        }
        reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| Error::Image(e.to_string()))?;
        let mut limits = Limits::default();
        limits.max_image_width = Some(w);
        limits.max_image_height = Some(h);
        reader.limits(limits);
        let image = reader.decode().map_err(|e| Error::Image(e.to_string()))?;
        Ok(Self::from_image(image))
    }

    /// Reads and decodes an image file.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::decode(&bytes)
    }

    /// Converts a decoded image to grey; a grey 8-bit image is moved, not copied.
    pub fn from_image(image: DynamicImage) -> Self {
        let grey = match image {
            DynamicImage::ImageLuma8(g) => g,
            other => other.to_luma8(),
        };
        let (w, h) = grey.dimensions();
        Frame {
            width: w as usize,
            height: h as usize,
            stride: w as usize,
            pixels: Cow::Owned(grey.into_raw()),
        }
    }
}

/// The means of `F`×`F` blocks from their columns' totals (`F` totals a block), appended to
/// `pixels`.
fn block_means<const F: usize>(columns: &[u16], pixels: &mut Vec<u8>) {
    let (blocks, _) = columns.as_chunks::<F>();
    pixels.extend(blocks.iter().map(|block| {
        let sum: u32 = block.iter().map(|&c| c as u32).sum();
        rounded_mean(sum, F)
    }));
}

/// The mean of a `factor`×`factor` block whose greys total `sum`, rounded to nearest.
#[inline]
fn rounded_mean(sum: u32, factor: usize) -> u8 {
    let area = (factor * factor) as u32;
    ((sum + area / 2) / area) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_frames_are_validated() {
        let data = vec![0u8; 100];
        assert!(Frame::from_raw(10, 10, 10, &data).is_ok());
        assert!(matches!(
            Frame::from_raw(0, 10, 10, &data),
            Err(Error::EmptyFrame { .. })
        ));
        assert!(matches!(
            Frame::from_raw(10, 10, 9, &data),
            Err(Error::StrideTooSmall { .. })
        ));
        assert!(matches!(
            Frame::from_raw(10, 11, 10, &data),
            Err(Error::TruncatedFrame { .. })
        ));
        // the last row needs only `width` bytes, not a whole stride
        let padded = vec![0u8; 12 * 9 + 10];
        let f = Frame::from_raw(10, 10, 12, &padded).unwrap();
        assert_eq!(f.row(9).len(), 10);
    }

    #[test]
    fn a_reduced_frame_averages_whole_blocks() {
        // 7×4 with a stride of 8: a 3×3 block of 10s and 40s averages to 20, the partial
        // column and row are dropped.
        let mut data = vec![200u8; 8 * 4];
        for (i, p) in data.iter_mut().enumerate() {
            let (x, y) = (i % 8, i / 8);
            if x < 3 && y < 3 {
                *p = if x == 0 { 40 } else { 10 };
            }
        }
        let f = Frame::from_raw(7, 4, 8, &data).unwrap();
        let r = f.reduced(3).unwrap();
        assert_eq!((r.width(), r.height()), (2, 1));
        assert_eq!(r.row(0), &[20, 200]);
        assert!(f.reduced(5).is_none() && f.reduced(1).is_none());
    }

    #[test]
    fn a_frame_written_as_png_reads_back_pixel_for_pixel_without_its_row_padding() {
        // 300×250 of pseudo-random grey with a stride of 301 (the padding, 255, is never a
        // pixel): more than one chunk of image data, so the PNG is written in several.
        let (width, height, stride) = (300, 250, 301);
        let mut state = 1u64;
        let mut data = vec![255u8; stride * height];
        for (i, p) in data.iter_mut().enumerate() {
            if i % stride < width {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                *p = (state >> 56) as u8;
            }
        }
        let frame = Frame::from_raw(width, height, stride, &data).unwrap();
        let mut png = Vec::new();
        frame.write_png(&mut png).unwrap();
        assert!(png.len() > PNG_CHUNK_BYTES, "{} bytes", png.len());
        let back = Frame::decode(&png).unwrap();
        assert_eq!((back.width(), back.height()), (width, height));
        for y in 0..height {
            assert_eq!(back.row(y), frame.row(y), "row {y}");
        }
    }

    #[test]
    fn bilinear_interpolates_between_pixel_centres() {
        let data = [0u8, 100, 0, 100];
        let f = Frame::from_raw(2, 2, 2, &data).unwrap();
        assert_eq!(f.bilinear(0.5, 0.5), 0.0);
        assert_eq!(f.bilinear(1.5, 0.5), 100.0);
        assert_eq!(f.bilinear(1.0, 1.0), 50.0);
    }

    #[test]
    fn garbage_is_not_an_image() {
        assert!(Frame::decode(b"").is_err());
        assert!(Frame::decode(b"definitely not an image").is_err());
        assert!(Frame::decode(&[0x89, b'P', b'N', b'G', 13, 10, 26, 10, 0, 0]).is_err());
    }
}
