//! Draws the demo photo of each seed product (no downloads): a studio table with the product on
//! it, shaded, drawn at twice the size and scaled down. Writes `seed/images/<product>.jpg`
//! (1280 × 960) and its 320 and 640 px derivatives, which the seed loads. The pictures are
//! part of the project and under its licence.
//!
//! `cargo run --release --example draw_seed_images [out-dir]`

use image::{imageops::FilterType, Rgb, RgbImage};

const W: u32 = 2560;
const H: u32 = 1920;

/// A tiny deterministic random source, so the pictures are the same on every run.
struct Rand(u64);

impl Rand {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_000) as f32 / 1_000_000.0
    }
    fn range(&mut self, a: f32, b: f32) -> f32 {
        a + (b - a) * self.next()
    }
}

struct Canvas {
    px: Vec<[f32; 3]>,
}

type Color = [f32; 3];

fn mix(a: Color, b: Color, t: f32) -> Color {
    let t = t.clamp(0.0, 1.0);
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn scale(c: Color, k: f32) -> Color {
    [c[0] * k, c[1] * k, c[2] * k]
}

impl Canvas {
    fn new() -> Canvas {
        Canvas { px: vec![[0.0; 3]; (W * H) as usize] }
    }

    fn blend(&mut self, x: i64, y: i64, c: Color, alpha: f32) {
        if x < 0 || y < 0 || x >= i64::from(W) || y >= i64::from(H) {
            return;
        }
        let p = &mut self.px[(y as u32 * W + x as u32) as usize];
        *p = mix(*p, c, alpha);
    }

    /// Studio backdrop above a wooden table.
    fn backdrop(&mut self, wall: Color, wood: Color) {
        let horizon = H as f32 * 0.52;
        for y in 0..H {
            for x in 0..W {
                let (fx, fy) = (x as f32 / W as f32, y as f32);
                let c = if fy < horizon {
                    let light = 1.08 - 0.25 * ((fx - 0.5).powi(2) * 2.0 + (fy / horizon - 0.3).powi(2));
                    scale(wall, light)
                } else {
                    let t = (fy - horizon) / (H as f32 - horizon);
                    let grain = ((fy * 0.045 + (fx * 9.0).sin() * 3.0).sin() * 0.5 + 0.5) * 0.10
                        + ((fy * 0.31 + fx * 40.0).sin() * 0.5 + 0.5) * 0.04;
                    scale(wood, 0.80 + 0.30 * t - grain)
                };
                self.px[(y * W + x) as usize] = c;
            }
        }
    }

    /// A soft elliptical shadow.
    fn shadow(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, strength: f32) {
        let (x0, x1) = ((cx - rx * 1.6) as i64, (cx + rx * 1.6) as i64);
        let (y0, y1) = ((cy - ry * 1.6) as i64, (cy + ry * 1.6) as i64);
        for y in y0..y1 {
            for x in x0..x1 {
                let d = ((x as f32 - cx) / rx).powi(2) + ((y as f32 - cy) / ry).powi(2);
                if d < 2.5 {
                    self.blend(x, y, [0.05, 0.04, 0.03], strength * (1.0 - d / 2.5).powi(2));
                }
            }
        }
    }

    /// An ellipsoid lit from the upper left: `base` in the light, darker at the rim, a highlight.
    fn blob(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, base: Color, gloss: f32) {
        let (x0, x1) = ((cx - rx) as i64 - 1, (cx + rx) as i64 + 1);
        let (y0, y1) = ((cy - ry) as i64 - 1, (cy + ry) as i64 + 1);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (nx, ny) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
                let d = nx * nx + ny * ny;
                if d > 1.0 {
                    continue;
                }
                let nz = (1.0 - d).sqrt();
                let light = (-0.45 * nx - 0.55 * ny + 0.70 * nz).max(0.0);
                let mut c = scale(base, 0.45 + 0.70 * light);
                let spec = (-0.35 * nx - 0.45 * ny + 0.82 * nz).max(0.0).powi(24) * gloss;
                c = mix(c, [1.0, 1.0, 0.97], spec);
                let edge = ((1.0 - d) * 8.0).min(1.0);
                self.blend(x, y, c, edge);
            }
        }
    }

    /// A filled polygon with a vertical shade from `top` to `bottom`.
    fn polygon(&mut self, pts: &[(f32, f32)], top: Color, bottom: Color) {
        let ys: Vec<f32> = pts.iter().map(|p| p.1).collect();
        let (miny, maxy) = (ys.iter().cloned().fold(f32::MAX, f32::min), ys.iter().cloned().fold(f32::MIN, f32::max));
        for y in miny as i64..=maxy as i64 {
            let fy = y as f32 + 0.5;
            let mut xs = Vec::new();
            for i in 0..pts.len() {
                let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
                if (a.1 <= fy && b.1 > fy) || (b.1 <= fy && a.1 > fy) {
                    xs.push(a.0 + (fy - a.1) / (b.1 - a.1) * (b.0 - a.0));
                }
            }
            xs.sort_by(|a, b| a.total_cmp(b));
            let c = mix(top, bottom, (fy - miny) / (maxy - miny).max(1.0));
            for pair in xs.chunks(2) {
                if let [a, b] = pair {
                    for x in *a as i64..=*b as i64 {
                        self.blend(x, y, c, 1.0);
                    }
                }
            }
        }
    }

    /// A bowl seen from slightly above, filled by `fill`.
    fn bowl(&mut self, cx: f32, cy: f32, r: f32, glaze: Color, inside: Color) {
        self.shadow(cx + r * 0.12, cy + r * 0.62, r * 1.05, r * 0.28, 0.55);
        // Body: the lower half of an ellipsoid.
        for y in (cy as i64)..=(cy + r * 0.62) as i64 {
            for x in (cx - r) as i64..=(cx + r) as i64 {
                let nx = (x as f32 - cx) / r;
                let depth = (y as f32 - cy) / (r * 0.62);
                if nx * nx + depth * depth > 1.0 {
                    continue;
                }
                let shade = 0.55 + 0.5 * (1.0 - (nx + 0.35).abs()).max(0.0);
                self.blend(x, y, scale(glaze, shade), 1.0);
            }
        }
        // Rim and the food inside.
        self.blob(cx, cy, r, r * 0.30, scale(glaze, 1.05), 0.2);
        self.blob(cx, cy + r * 0.02, r * 0.92, r * 0.25, inside, 0.0);
    }
}

/// Many small grains over an ellipse.
/// `area` is the ellipse (centre x, centre y, radius x, radius y) the grains fall in.
fn grains(c: &mut Canvas, rng: &mut Rand, area: (f32, f32, f32, f32), n: usize, size: f32, colors: &[Color]) {
    let (cx, cy, rx, ry) = area;
    for _ in 0..n {
        let a = rng.range(0.0, std::f32::consts::TAU);
        let d = rng.next().sqrt();
        let (x, y) = (cx + a.cos() * rx * d, cy + a.sin() * ry * d);
        let color = colors[(rng.next() * colors.len() as f32) as usize % colors.len()];
        let tint = rng.range(0.85, 1.1);
        let s = size * rng.range(0.8, 1.2);
        c.blob(x, y, s * rng.range(1.0, 1.5), s, scale(color, tint), 0.5);
    }
}

fn draw(product: &str) -> RgbImage {
    let mut c = Canvas::new();
    let mut rng =
        Rand(product.bytes().fold(0x9E37_79B9_7F4A_7C15, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)));
    let (cx, cy) = (W as f32 * 0.5, H as f32 * 0.60);
    match product {
        "guyuan-quinoa" | "raohe-rice" | "kangbao-flaxseed" => {
            let (wall, fill, colors): (Color, Color, Vec<Color>) = match product {
                "guyuan-quinoa" => (
                    [0.86, 0.82, 0.74],
                    [0.80, 0.66, 0.48],
                    vec![[0.93, 0.86, 0.70], [0.78, 0.35, 0.25], [0.92, 0.80, 0.55]],
                ),
                "raohe-rice" => ([0.80, 0.84, 0.86], [0.92, 0.91, 0.86], vec![[0.97, 0.96, 0.92], [0.93, 0.92, 0.86]]),
                _ => (
                    [0.84, 0.80, 0.72],
                    [0.45, 0.28, 0.15],
                    vec![[0.52, 0.32, 0.16], [0.60, 0.38, 0.20], [0.42, 0.25, 0.12]],
                ),
            };
            c.backdrop(wall, [0.55, 0.38, 0.24]);
            // A linen sack behind the bowl, spilling grains.
            c.shadow(cx - 560.0, cy + 200.0, 420.0, 110.0, 0.45);
            c.blob(cx - 560.0, cy - 120.0, 380.0, 420.0, [0.84, 0.76, 0.60], 0.05);
            c.blob(cx - 560.0, cy - 470.0, 200.0, 110.0, [0.78, 0.70, 0.55], 0.05);
            grains(&mut c, &mut rng, (cx - 300.0, cy + 330.0, 260.0, 60.0), 420, 13.0, &colors);
            c.bowl(cx + 180.0, cy, 560.0, [0.93, 0.93, 0.90], fill);
            grains(&mut c, &mut rng, (cx + 180.0, cy + 10.0, 500.0, 130.0), 5200, 14.0, &colors);
        }
        "guyuan-quinoa-zongzi" => {
            c.backdrop([0.88, 0.86, 0.76], [0.50, 0.34, 0.20]);
            c.shadow(cx, cy + 330.0, 900.0, 150.0, 0.5);
            // A bamboo tray, then three leaf-wrapped pyramids tied with string.
            c.blob(cx, cy + 250.0, 980.0, 210.0, [0.80, 0.66, 0.40], 0.1);
            for (i, dx) in [-520.0f32, 0.0, 520.0].iter().enumerate() {
                let (x, y) = (cx + dx, cy + 120.0 - (i % 2) as f32 * 60.0);
                c.polygon(
                    &[(x, y - 420.0), (x + 330.0, y + 170.0), (x - 330.0, y + 170.0)],
                    [0.42, 0.62, 0.28],
                    [0.16, 0.34, 0.12],
                );
                c.polygon(
                    &[(x, y - 420.0), (x + 330.0, y + 170.0), (x + 60.0, y + 190.0)],
                    [0.30, 0.50, 0.20],
                    [0.12, 0.27, 0.10],
                );
                for k in 0..3 {
                    let yy = y - 140.0 + k as f32 * 110.0;
                    c.polygon(
                        &[(x - 250.0, yy), (x + 250.0, yy + 8.0), (x + 250.0, yy + 26.0), (x - 250.0, yy + 18.0)],
                        [0.86, 0.80, 0.62],
                        [0.70, 0.62, 0.45],
                    );
                }
            }
        }
        "guyuan-quinoa-congee" => {
            c.backdrop([0.90, 0.86, 0.80], [0.58, 0.40, 0.26]);
            c.bowl(cx, cy, 640.0, [0.96, 0.95, 0.92], [0.86, 0.80, 0.66]);
            grains(
                &mut c,
                &mut rng,
                (cx, cy + 10.0, 560.0, 140.0),
                1400,
                16.0,
                &[[0.40, 0.60, 0.22], [0.35, 0.52, 0.18]],
            );
            grains(
                &mut c,
                &mut rng,
                (cx, cy + 10.0, 560.0, 140.0),
                1800,
                9.0,
                &[[0.94, 0.88, 0.74], [0.80, 0.40, 0.28]],
            );
            // A spoon.
            c.blob(cx + 820.0, cy + 260.0, 150.0, 60.0, [0.85, 0.85, 0.86], 0.9);
            c.polygon(
                &[
                    (cx + 940.0, cy + 240.0),
                    (cx + 1250.0, cy + 180.0),
                    (cx + 1255.0, cy + 205.0),
                    (cx + 945.0, cy + 275.0),
                ],
                [0.88, 0.88, 0.9],
                [0.7, 0.7, 0.72],
            );
        }
        "bashang-sunflower-seeds" => {
            c.backdrop([0.92, 0.86, 0.62], [0.52, 0.36, 0.22]);
            c.shadow(cx, cy + 260.0, 900.0, 170.0, 0.5);
            for _ in 0..900 {
                let a = rng.range(0.0, std::f32::consts::TAU);
                let d = rng.next().sqrt();
                let (x, y) = (cx + a.cos() * 880.0 * d, cy + 120.0 + a.sin() * 250.0 * d - (1.0 - d) * 260.0);
                let s = rng.range(26.0, 34.0);
                c.blob(x, y, s * 1.9, s, [0.10, 0.09, 0.08], 0.6);
                c.blob(x, y, s * 1.7, s * 0.22, [0.85, 0.84, 0.80], 0.2);
            }
            // A sunflower head behind.
            c.blob(cx + 700.0, cy - 560.0, 330.0, 330.0, [0.96, 0.75, 0.12], 0.1);
            c.blob(cx + 700.0, cy - 560.0, 190.0, 190.0, [0.30, 0.20, 0.10], 0.2);
        }
        "guyuan-globe-flower-tea" => {
            c.backdrop([0.84, 0.88, 0.84], [0.48, 0.33, 0.22]);
            c.shadow(cx, cy + 420.0, 420.0, 90.0, 0.5);
            // A glass of amber tea with flowers floating.
            c.polygon(
                &[
                    (cx - 360.0, cy - 420.0),
                    (cx + 360.0, cy - 420.0),
                    (cx + 300.0, cy + 420.0),
                    (cx - 300.0, cy + 420.0),
                ],
                [0.95, 0.78, 0.40],
                [0.80, 0.50, 0.12],
            );
            c.blob(cx, cy - 420.0, 360.0, 70.0, [0.96, 0.82, 0.48], 0.4);
            for _ in 0..7 {
                let (x, y) = (cx + rng.range(-260.0, 260.0), cy - 420.0 + rng.range(-30.0, 30.0));
                c.blob(x, y, 70.0, 40.0, [0.98, 0.55, 0.08], 0.3);
                c.blob(x, y, 26.0, 18.0, [0.85, 0.35, 0.05], 0.2);
            }
            for _ in 0..40 {
                let (x, y) = (cx + rng.range(-1000.0, 1000.0), cy + rng.range(300.0, 560.0));
                if (x - cx).abs() > 420.0 {
                    c.blob(x, y, 46.0, 30.0, [0.96, 0.58, 0.10], 0.3);
                }
            }
        }
        "kangbao-flaxseed-oil" => {
            c.backdrop([0.88, 0.86, 0.78], [0.55, 0.38, 0.24]);
            c.shadow(cx, cy + 470.0, 330.0, 80.0, 0.55);
            // A bottle: body, shoulder, neck, cap; golden oil.
            c.polygon(
                &[
                    (cx - 260.0, cy - 300.0),
                    (cx + 260.0, cy - 300.0),
                    (cx + 260.0, cy + 470.0),
                    (cx - 260.0, cy + 470.0),
                ],
                [0.96, 0.80, 0.28],
                [0.78, 0.52, 0.08],
            );
            c.polygon(
                &[(cx - 260.0, cy - 300.0), (cx + 260.0, cy - 300.0), (cx + 90.0, cy - 560.0), (cx - 90.0, cy - 560.0)],
                [0.90, 0.90, 0.86],
                [0.94, 0.82, 0.40],
            );
            c.polygon(
                &[(cx - 90.0, cy - 760.0), (cx + 90.0, cy - 760.0), (cx + 90.0, cy - 560.0), (cx - 90.0, cy - 560.0)],
                [0.92, 0.92, 0.90],
                [0.86, 0.86, 0.84],
            );
            c.polygon(
                &[
                    (cx - 110.0, cy - 860.0),
                    (cx + 110.0, cy - 860.0),
                    (cx + 110.0, cy - 760.0),
                    (cx - 110.0, cy - 760.0),
                ],
                [0.20, 0.42, 0.22],
                [0.12, 0.28, 0.14],
            );
            c.polygon(
                &[(cx - 200.0, cy - 60.0), (cx + 200.0, cy - 60.0), (cx + 200.0, cy + 240.0), (cx - 200.0, cy + 240.0)],
                [0.97, 0.95, 0.88],
                [0.92, 0.90, 0.82],
            );
            c.polygon(
                &[(cx - 200.0, cy + 40.0), (cx + 200.0, cy + 40.0), (cx + 200.0, cy + 90.0), (cx - 200.0, cy + 90.0)],
                [0.25, 0.48, 0.26],
                [0.25, 0.48, 0.26],
            );
            c.polygon(
                &[
                    (cx - 200.0, cy - 280.0),
                    (cx - 140.0, cy - 280.0),
                    (cx - 140.0, cy + 440.0),
                    (cx - 200.0, cy + 440.0),
                ],
                [1.0, 0.96, 0.8],
                [0.98, 0.88, 0.5],
            );
            grains(
                &mut c,
                &mut rng,
                (cx + 620.0, cy + 360.0, 260.0, 70.0),
                500,
                13.0,
                &[[0.52, 0.32, 0.16], [0.60, 0.38, 0.20]],
            );
        }
        _ => {
            // Bananas: a bunch of curved yellow fruit.
            c.backdrop([0.86, 0.90, 0.82], [0.52, 0.36, 0.22]);
            c.shadow(cx, cy + 330.0, 950.0, 150.0, 0.5);
            for i in 0..6 {
                let off = i as f32 * 70.0;
                for k in 0..120 {
                    let t = k as f32 / 119.0;
                    let ang = -1.15 + t * 2.3;
                    let (x, y) = (cx - 150.0 + off + ang.sin() * 820.0, cy + 260.0 - off * 0.6 - ang.cos() * 380.0);
                    let r = 95.0 * (1.0 - (2.0 * t - 1.0).powi(4)).max(0.25);
                    let tint = if !(0.05..=0.96).contains(&t) { [0.30, 0.25, 0.12] } else { [0.96, 0.82, 0.22] };
                    c.blob(x, y, r, r * 0.9, scale(tint, 0.92 + 0.03 * i as f32), 0.25);
                }
            }
        }
    }
    let mut img = RgbImage::new(W, H);
    for (i, p) in c.px.iter().enumerate() {
        let (x, y) = (i as u32 % W, i as u32 / W);
        // A slight vignette, as a camera gives.
        let (dx, dy) = (x as f32 / W as f32 - 0.5, y as f32 / H as f32 - 0.5);
        let v = 1.0 - 0.35 * (dx * dx + dy * dy);
        let n = rng.range(-0.012, 0.012);
        let to = |c: f32| ((c * v + n).clamp(0.0, 1.0).powf(1.0 / 1.1) * 255.0) as u8;
        img.put_pixel(x, y, Rgb([to(p[0]), to(p[1]), to(p[2])]));
    }
    image::imageops::resize(&img, W / 2, H / 2, FilterType::Lanczos3)
}

fn save(img: &RgbImage, path: &std::path::Path) {
    let mut bytes = Vec::new();
    let encoded = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 80).encode_image(img);
    if let Err(e) = encoded.and_then(|()| std::fs::write(path, &bytes).map_err(image::ImageError::IoError)) {
        eprintln!("{}: {e}", path.display());
        std::process::exit(1);
    }
}

fn main() {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "seed/images".into()));
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("{}: {e}", out.display());
        std::process::exit(1);
    }
    for product in [
        "guyuan-quinoa",
        "guyuan-quinoa-zongzi",
        "guyuan-quinoa-congee",
        "bashang-sunflower-seeds",
        "guyuan-globe-flower-tea",
        "kangbao-flaxseed",
        "kangbao-flaxseed-oil",
        "raohe-rice",
        "ceheng-banana",
    ] {
        let img = draw(product);
        save(&img, &out.join(format!("{product}.jpg")));
        for w in [320u32, 640] {
            let h = img.height() * w / img.width();
            save(&image::imageops::resize(&img, w, h, FilterType::Lanczos3), &out.join(format!("{product}-{w}.jpg")));
        }
        println!("{product}");
    }
}
