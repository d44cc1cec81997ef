//! Product photos as pages show them: resized JPEG derivatives made once, on upload, and the
//! URLs and `srcset` a page writes for them.
//!
//! A stored photo is `<sha256>.<ext>`; its derivatives are `<sha256>-<width>.jpg` for each of
//! [`WIDTHS`] narrower than the photo, listed in `product_images.widths` (e.g. `320,640`).

use std::io::Cursor;

/// The widths derivatives are made at.
pub const WIDTHS: [u32; 3] = [320, 640, 1280];
const JPEG_QUALITY: u8 = 80;
/// Larger pictures are not decoded (a small file can declare a huge canvas).
const MAX_SIDE: u32 = 8000;

/// A derivative: its width and its JPEG bytes.
pub type Derivative = (u32, Vec<u8>);

/// A photo's derivatives, one for each of [`WIDTHS`] narrower than the photo, and the photo's
/// own width. `None` when the file cannot be decoded (it is then shown as uploaded, without
/// derivatives).
pub fn derivatives(data: &[u8]) -> Option<(u32, Vec<Derivative>)> {
    let mut reader = image::ImageReader::new(Cursor::new(data)).with_guessed_format().ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let picture = reader.decode().ok()?;
    let (width, height) = (picture.width(), picture.height());
    if width == 0 || height == 0 {
        return None;
    }
    let mut out = Vec::new();
    for w in WIDTHS.into_iter().filter(|w| *w < width) {
        let h = ((u64::from(height) * u64::from(w)) / u64::from(width)).max(1) as u32;
        let small = picture.resize_exact(w, h, image::imageops::FilterType::Triangle).to_rgb8();
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY).encode_image(&small).ok()?;
        out.push((w, bytes));
    }
    Some((width, out))
}

/// The file name of a photo's derivative of `width`.
pub fn derivative_name(file_name: &str, width: u32) -> String {
    let stem = file_name.split('.').next().unwrap_or(file_name);
    format!("{stem}-{width}.jpg")
}

/// Whether `name` is a derivative's name: 64 lower-case hex digits, `-`, one of [`WIDTHS`], `.jpg`.
pub fn is_derivative_name(name: &str) -> bool {
    let Some(rest) = name.strip_suffix(".jpg") else { return false };
    let Some((hash, width)) = rest.split_once('-') else { return false };
    hash.len() == 64
        && hash.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        && WIDTHS.iter().any(|w| w.to_string() == width)
}

/// A stored photo as the database knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    pub file_name: String,
    /// The photo's width; 0 when unknown (uploaded before derivatives were made).
    pub width: i32,
    /// Widths of its derivatives, comma-separated.
    pub widths: String,
}

/// What an `<img>` needs: `src`, and `srcset` (empty when there are no derivatives).
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Picture {
    pub src: String,
    pub srcset: String,
}

impl StoredImage {
    fn derived(&self) -> Vec<u32> {
        self.widths.split(',').filter_map(|w| w.trim().parse().ok()).collect()
    }

    /// The original's URL.
    pub fn url(&self) -> String {
        format!("/images/{}", self.file_name)
    }

    /// A URL at least `want` pixels wide when there is one (else the largest), for a fixed-size
    /// thumbnail.
    pub fn url_for(&self, want: u32) -> String {
        match self.derived().into_iter().find(|w| *w >= want) {
            Some(w) => format!("/images/{}", derivative_name(&self.file_name, w)),
            None => self.url(),
        }
    }

    /// `src` (the 640 px derivative, or the original) and a `srcset` of every size.
    pub fn picture(&self) -> Picture {
        let derived = self.derived();
        if derived.is_empty() {
            return Picture { src: self.url(), srcset: String::new() };
        }
        let mut set: Vec<String> =
            derived.iter().map(|w| format!("/images/{} {w}w", derivative_name(&self.file_name, *w))).collect();
        if self.width > 0 {
            set.push(format!("{} {}w", self.url(), self.width));
        }
        Picture { src: self.url_for(640), srcset: set.join(", ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 70).encode_image(&img).unwrap_or_default();
        bytes
    }

    #[test]
    fn makes_smaller_jpegs_only() {
        let (width, made) = derivatives(&sample(800, 600)).unwrap_or_default();
        assert_eq!(width, 800);
        let widths: Vec<u32> = made.iter().map(|d| d.0).collect();
        assert_eq!(widths, vec![320, 640]);
        let small = image::load_from_memory(&made[0].1).map(|i| (i.width(), i.height())).ok();
        assert_eq!(small, Some((320, 240)));
        assert!(derivatives(b"not a picture").is_none());
    }

    #[test]
    fn names_and_srcsets() {
        let hash = "a".repeat(64);
        let img = StoredImage { file_name: format!("{hash}.png"), width: 800, widths: "320,640".into() };
        assert_eq!(img.url_for(56), format!("/images/{hash}-320.jpg"));
        let p = img.picture();
        assert_eq!(p.src, format!("/images/{hash}-640.jpg"));
        assert_eq!(
            p.srcset,
            format!("/images/{hash}-320.jpg 320w, /images/{hash}-640.jpg 640w, /images/{hash}.png 800w")
        );
        assert!(is_derivative_name(&format!("{hash}-640.jpg")));
        assert!(!is_derivative_name(&format!("{hash}-641.jpg")) && !is_derivative_name("x-640.jpg"));
        let old = StoredImage { file_name: format!("{hash}.jpg"), width: 0, widths: String::new() };
        assert_eq!(old.picture(), Picture { src: format!("/images/{hash}.jpg"), srcset: String::new() });
    }
}
