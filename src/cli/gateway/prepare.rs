//! What the gateway does to a frame before sending it: crop it to the line's region of
//! interest, send it as 8-bit grey pixels instead of an encoded colour image, and decide by
//! the trigger whether it is sent at all.

use super::source::Picture;
use anyhow::{Context, Result, bail};
use std::str::FromStr;
use verigrade::Frame;
use verigrade::geometry::Rect;
use verigrade::proto::{RawImage, verify_request};

/// `x,y,w,h` in frame pixels.
#[derive(Clone, Copy, Debug)]
pub struct Roi(pub Rect);

impl FromStr for Roi {
    type Err = String;

    fn from_str(s: &str) -> Result<Roi, String> {
        let parts: Vec<usize> = s
            .split(',')
            .map(|p| p.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("--roi {s:?}: expected x,y,w,h in pixels"))?;
        match parts[..] {
            [x, y, w, h] if w > 0 && h > 0 => Ok(Roi(Rect::new(x, y, w, h))),
            _ => Err(format!(
                "--roi {s:?}: expected x,y,w,h in pixels, w and h above 0"
            )),
        }
    }
}

/// Which captured frames are sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trigger {
    /// Every frame.
    Every,
    /// Every Nth frame (a camera faster than the line needs).
    Nth(u64),
    /// A frame whose picture differs from the last one sent by more than this mean grey
    /// difference (a pack arrived; a still belt sends nothing).
    Change(f64),
}

/// Mean grey difference that counts as a change when `change` names none: well above a
/// camera's noise, well below a pack entering the view.
const DEFAULT_CHANGE: f64 = 6.0;

impl FromStr for Trigger {
    type Err = String;

    fn from_str(s: &str) -> Result<Trigger, String> {
        let bad = || format!("--trigger {s:?}: expected every, every:N or change[:GREY]");
        match s.split_once(':') {
            None if s == "every" => Ok(Trigger::Every),
            None if s == "change" => Ok(Trigger::Change(DEFAULT_CHANGE)),
            Some(("every", n)) => match n.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(Trigger::Nth(n)),
                _ => Err(bad()),
            },
            Some(("change", grey)) => match grey.parse::<f64>() {
                Ok(g) if g > 0.0 && g.is_finite() => Ok(Trigger::Change(g)),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// Side of the thumbnail a change trigger compares: coarse enough to ignore noise and
/// cheap on a 5 MP frame.
const THUMB: usize = 32;

/// Decides, frame by frame, what is sent and in what form.
pub struct Preparer {
    roi: Option<Roi>,
    grey: bool,
    trigger: Trigger,
    captured: u64,
    last_sent: Option<Vec<f64>>,
}

impl Preparer {
    pub fn new(roi: Option<Roi>, grey: bool, trigger: Trigger) -> Preparer {
        Preparer {
            roi,
            grey,
            trigger,
            captured: 0,
            last_sent: None,
        }
    }

    /// The frame as it is to be sent, or None when the trigger skips it. An image the
    /// gateway must look into (to crop it, make it grey or compare it) and cannot decode is
    /// an error for that frame alone. Grey pixels (a camera's) are always sent raw.
    pub fn prepare(&mut self, picture: Picture) -> Result<Option<verify_request::Frame>> {
        self.captured += 1;
        if let Trigger::Nth(n) = self.trigger
            && !(self.captured - 1).is_multiple_of(n)
        {
            return Ok(None);
        }
        let (decoded, encoded) = match picture {
            Picture::Encoded(image) => {
                let looks =
                    self.roi.is_some() || self.grey || matches!(self.trigger, Trigger::Change(_));
                if !looks {
                    return Ok(Some(verify_request::Frame::Image(image.into())));
                }
                let decoded =
                    Frame::decode(&image).context("the gateway cannot decode this image")?;
                (decoded, Some(image))
            }
            Picture::Grey(frame) => (frame, None),
        };
        let frame = match self.roi {
            None => decoded.view(decoded.rect()),
            Some(Roi(rect)) => {
                let Some(inside) = rect.clipped(decoded.width(), decoded.height()) else {
                    bail!(
                        "--roi {},{},{},{} lies outside the {}x{} frame",
                        rect.x,
                        rect.y,
                        rect.width,
                        rect.height,
                        decoded.width(),
                        decoded.height()
                    );
                };
                decoded.view(inside)
            }
        };
        if let Trigger::Change(threshold) = self.trigger {
            let thumb = thumbnail(&frame);
            let changed = self.last_sent.as_ref().is_none_or(|last| {
                let diff: f64 = last.iter().zip(&thumb).map(|(a, b)| (a - b).abs()).sum();
                diff / thumb.len() as f64 > threshold
            });
            if !changed {
                return Ok(None);
            }
            self.last_sent = Some(thumb);
        }
        if let Some(image) = encoded
            && self.roi.is_none()
            && !self.grey
        {
            return Ok(Some(verify_request::Frame::Image(image.into())));
        }
        let (width, height) = (frame.width(), frame.height());
        let mut data = Vec::with_capacity(width * height);
        for y in 0..height {
            data.extend_from_slice(frame.row(y));
        }
        Ok(Some(verify_request::Frame::Raw(RawImage {
            width: width as u32,
            height: height as u32,
            stride: width as u32,
            data: data.into(),
        })))
    }
}

/// Mean grey of each of THUMB×THUMB cells of the frame.
fn thumbnail(frame: &Frame) -> Vec<f64> {
    let (w, h) = (frame.width(), frame.height());
    let mut sums = vec![0u64; THUMB * THUMB];
    let mut counts = vec![0u64; THUMB * THUMB];
    for y in 0..h {
        let cy = y * THUMB / h;
        for (x, &p) in frame.row(y).iter().enumerate() {
            let cell = cy * THUMB + x * THUMB / w;
            sums[cell] += p as u64;
            counts[cell] += 1;
        }
    }
    sums.iter()
        .zip(&counts)
        .map(|(&s, &n)| if n == 0 { 0.0 } else { s as f64 / n as f64 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: usize, height: usize, grey: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let pixels = (0..width * height)
            .map(|i| grey(i % width, i / width))
            .collect();
        let mut png = Vec::new();
        Frame::from_owned(width, height, width, pixels)
            .unwrap()
            .write_png(&mut png)
            .unwrap();
        png
    }

    #[test]
    fn triggers_parse_and_refuse_in_words() {
        assert_eq!("every".parse::<Trigger>(), Ok(Trigger::Every));
        assert_eq!("every:3".parse::<Trigger>(), Ok(Trigger::Nth(3)));
        assert_eq!("change:2.5".parse::<Trigger>(), Ok(Trigger::Change(2.5)));
        for bad in ["every:0", "sometimes", "change:-1"] {
            let e = bad.parse::<Trigger>().unwrap_err();
            assert!(e.contains("every, every:N or change"), "{e}");
        }
        assert!("1,2,3".parse::<Roi>().is_err() && "0,0,0,5".parse::<Roi>().is_err());
    }

    #[test]
    fn every_nth_frame_is_sent() {
        let mut preparer = Preparer::new(None, false, Trigger::Nth(3));
        let sent: Vec<bool> = (0..7)
            .map(|_| {
                preparer
                    .prepare(Picture::Encoded(vec![1, 2, 3]))
                    .unwrap()
                    .is_some()
            })
            .collect();
        assert_eq!(sent, [true, false, false, true, false, false, true]);
    }

    #[test]
    fn a_still_picture_is_sent_once_and_a_change_again() {
        let still = png(64, 48, |x, _| (x * 3) as u8);
        let moved = png(64, 48, |x, y| if y > 20 { 20 } else { (x * 3) as u8 });
        let mut preparer = Preparer::new(None, false, Trigger::Change(DEFAULT_CHANGE));
        let sent: Vec<bool> = [&still, &still, &moved, &moved, &still]
            .iter()
            .map(|image| {
                preparer
                    .prepare(Picture::Encoded(image.to_vec()))
                    .unwrap()
                    .is_some()
            })
            .collect();
        assert_eq!(sent, [true, false, true, false, true]);
    }

    #[test]
    fn a_region_of_interest_is_sent_as_grey_pixels() {
        let image = png(40, 30, |x, y| (x + 100 * (y / 10)) as u8);
        let mut preparer = Preparer::new(Some("5,10,8,4".parse().unwrap()), false, Trigger::Every);
        let Some(verify_request::Frame::Raw(raw)) =
            preparer.prepare(Picture::Encoded(image)).unwrap()
        else {
            panic!("a cropped frame is sent raw");
        };
        assert_eq!((raw.width, raw.height, raw.stride), (8, 4, 8));
        assert_eq!(raw.data[0], 105, "row 10 column 5");
        assert_eq!(raw.data[31], 112);
        let outside = Preparer::new(Some("50,0,4,4".parse().unwrap()), false, Trigger::Every)
            .prepare(Picture::Encoded(png(40, 30, |_, _| 0)))
            .unwrap_err();
        assert!(
            outside.to_string().contains("outside the 40x30 frame"),
            "{outside}"
        );
    }

    #[test]
    fn grey_pixels_are_sent_raw_and_cropped_like_any_frame() {
        let pixels: Vec<u8> = (0..40 * 30)
            .map(|i| (i % 40 + 100 * (i / 400)) as u8)
            .collect();
        let grey = || Picture::Grey(Frame::from_owned(40, 30, 40, pixels.clone()).unwrap());
        let Some(verify_request::Frame::Raw(whole)) = Preparer::new(None, false, Trigger::Every)
            .prepare(grey())
            .unwrap()
        else {
            panic!("grey pixels are sent raw without --grey");
        };
        assert_eq!((whole.width, whole.height), (40, 30));
        assert_eq!(whole.data.as_ref(), pixels.as_slice());
        let mut cropping = Preparer::new(Some("5,10,8,4".parse().unwrap()), false, Trigger::Every);
        let Some(verify_request::Frame::Raw(crop)) = cropping.prepare(grey()).unwrap() else {
            panic!("a cropped frame is sent raw");
        };
        assert_eq!((crop.width, crop.height, crop.data[0]), (8, 4, 105));
    }
}
