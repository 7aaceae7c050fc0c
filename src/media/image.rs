//! Turning an uploaded image into what is served: decoded once (after its
//! header's pixel count is checked), turned upright by its EXIF
//! orientation, resized, and re-encoded from pixels, so no metadata block
//! of the upload (GPS above all) reaches an output.
//!
//! The libraries, by measurement on this 2-core box (bench/README.md,
//! "Photos"): `image` decodes (zune-jpeg) and reads the EXIF orientation,
//! `fast_image_resize` scales (SIMD Lanczos3), libwebp (`webp`) and
//! `jpeg-encoder` encode, `blurhash` hashes a 64 px copy: a 12 MP JPEG
//! takes 0.51 s for all four files and the hash. ffmpeg, already a
//! dependency, took 0.48-0.53 s for three of the four files alone (a
//! process per image, and still no pixels here for the hash, nor the
//! pixel-count check before decoding), so it gains nothing.
//!
//! Plain blocking code: the job runs it on the blocking pool.

use std::io::BufReader;
use std::path::Path;

use fast_image_resize::images::Image;
use fast_image_resize::{PixelType, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

use kith_core::media::{AVATAR_SIZES, DISPLAY_MAX, MAX_PIXELS, THUMB_MAX, VariantSize, fit};

/// WebP quality: 80 is libwebp's default and visually clean for photos
/// at half the bytes of JPEG 82.
const WEBP_QUALITY: f32 = 80.0;
/// JPEG quality of the fallback (what most sites serve).
const JPEG_QUALITY: u8 = 82;
/// The size blurhash reads: its 4x3 components need no more.
const HASH_SIZE: u32 = 64;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the image is {width}x{height} pixels; at most {MAX_PIXELS} pixels are accepted")]
    TooManyPixels { width: u32, height: u32 },
    #[error("the image cannot be decoded: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn corrupt(e: impl std::fmt::Display) -> ImageError {
    ImageError::Corrupt(e.to_string())
}

/// The image's size from its header, refusing more than [`MAX_PIXELS`]:
/// no pixel is decoded.
pub fn dimensions(path: &Path) -> Result<(u32, u32), ImageError> {
    let reader =
        ImageReader::new(BufReader::new(std::fs::File::open(path)?)).with_guessed_format()?;
    let (width, height) = reader.into_dimensions().map_err(corrupt)?;
    check_pixels(width, height)?;
    Ok((width, height))
}

fn check_pixels(width: u32, height: u32) -> Result<(), ImageError> {
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooManyPixels { width, height });
    }
    Ok(())
}

/// Decodes `path` upright; the size is checked before any pixel is.
pub fn decode(path: &Path) -> Result<DynamicImage, ImageError> {
    upright(ImageReader::new(BufReader::new(std::fs::File::open(path)?)).with_guessed_format()?)
}

/// Decodes an image held in memory (a link card's), as [`decode`] does.
pub fn decode_bytes(bytes: &[u8]) -> Result<DynamicImage, ImageError> {
    upright(ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format()?)
}

fn upright<R: std::io::BufRead + std::io::Seek>(
    mut reader: ImageReader<R>,
) -> Result<DynamicImage, ImageError> {
    let mut limits = Limits::default();
    // RGBA of the largest accepted image, plus the decoder's own buffers.
    limits.max_alloc = Some(MAX_PIXELS * 4 + 64 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height)?;
    let orientation = decoder.orientation().map_err(corrupt)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Pixels in the form the encoders take: RGB, or RGBA when the image has
/// transparency.
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub alpha: bool,
    pub data: Vec<u8>,
}

impl Pixels {
    pub fn of(img: DynamicImage) -> Pixels {
        let (width, height) = (img.width(), img.height());
        if img.color().has_alpha() {
            Pixels {
                width,
                height,
                alpha: true,
                data: img.into_rgba8().into_raw(),
            }
        } else {
            Pixels {
                width,
                height,
                alpha: false,
                data: img.into_rgb8().into_raw(),
            }
        }
    }

    fn pixel_type(&self) -> PixelType {
        if self.alpha {
            PixelType::U8x4
        } else {
            PixelType::U8x3
        }
    }

    /// Scaled to `width` x `height` (Lanczos3), from the centred crop of
    /// `crop` (a `(x, y, w, h)` box) when given.
    pub fn resized(&self, width: u32, height: u32, crop: Option<(f64, f64, f64, f64)>) -> Pixels {
        if width == self.width && height == self.height && crop.is_none() {
            return Pixels {
                data: self.data.clone(),
                ..*self
            };
        }
        let src = fast_image_resize::images::ImageRef::new(
            self.width,
            self.height,
            &self.data,
            self.pixel_type(),
        )
        .expect("a buffer of width x height pixels");
        let mut dst = Image::new(width, height, self.pixel_type());
        let mut options = ResizeOptions::new();
        if let Some((x, y, w, h)) = crop {
            options = options.crop(x, y, w, h);
        }
        Resizer::new()
            .resize(&src, &mut dst, &options)
            .expect("same pixel types, a crop inside the source");
        Pixels {
            width,
            height,
            alpha: self.alpha,
            data: dst.into_vec(),
        }
    }

    /// Lossy WebP (keeps transparency).
    pub fn webp(&self) -> Vec<u8> {
        let enc = if self.alpha {
            webp::Encoder::from_rgba(&self.data, self.width, self.height)
        } else {
            webp::Encoder::from_rgb(&self.data, self.width, self.height)
        };
        enc.encode(WEBP_QUALITY).to_vec()
    }

    /// Baseline JPEG; transparency is laid on white.
    pub fn jpeg(&self) -> Result<Vec<u8>, ImageError> {
        let rgb: std::borrow::Cow<[u8]> = if self.alpha {
            self.data
                .chunks_exact(4)
                .flat_map(|p| {
                    let a = u16::from(p[3]);
                    let over = move |c: u8| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8;
                    [over(p[0]), over(p[1]), over(p[2])]
                })
                .collect::<Vec<u8>>()
                .into()
        } else {
            (&self.data[..]).into()
        };
        let (w, h) = (
            u16::try_from(self.width).map_err(corrupt)?,
            u16::try_from(self.height).map_err(corrupt)?,
        );
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY)
            .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .map_err(corrupt)?;
        Ok(out)
    }

    /// The blurhash (4x3 components) of a small copy.
    pub fn blurhash(&self) -> Result<String, ImageError> {
        let (w, h) = fit(self.width, self.height, HASH_SIZE);
        let small = self.resized(w, h, None);
        let rgba: Vec<u8> = if small.alpha {
            small.data
        } else {
            small
                .data
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect()
        };
        blurhash::encode(4, 3, w, h, &rgba).map_err(|e| corrupt(format!("{e:?}")))
    }
}

/// One encoded output: its file's bytes, by the name the caller maps to a
/// file.
pub struct Encoded {
    pub output: kith_core::media::Output,
    pub bytes: Vec<u8>,
}

/// A processed photo: its upright size, its variants, and their files.
pub struct Photo {
    pub width: u32,
    pub height: u32,
    pub blurhash: String,
    pub variants: Vec<VariantSize>,
    pub files: Vec<Encoded>,
}

/// A photo's `display` and `thumb` variants, WebP and JPEG each.
pub fn photo(img: DynamicImage) -> Result<Photo, ImageError> {
    use kith_core::media::{Format, Output};
    let px = Pixels::of(img);
    let (dw, dh) = fit(px.width, px.height, DISPLAY_MAX);
    let display = px.resized(dw, dh, None);
    // From the display copy: the same result at a fraction of the work.
    let (tw, th) = fit(px.width, px.height, THUMB_MAX);
    let thumb = display.resized(tw, th, None);
    let blurhash = thumb.blurhash()?;
    let files = vec![
        Encoded {
            output: Output::Display(Format::Webp),
            bytes: display.webp(),
        },
        Encoded {
            output: Output::Display(Format::Jpeg),
            bytes: display.jpeg()?,
        },
        Encoded {
            output: Output::Thumb(Format::Webp),
            bytes: thumb.webp(),
        },
        Encoded {
            output: Output::Thumb(Format::Jpeg),
            bytes: thumb.jpeg()?,
        },
    ];
    Ok(Photo {
        width: px.width,
        height: px.height,
        blurhash,
        variants: vec![
            VariantSize {
                name: "display".into(),
                width: dw,
                height: dh,
            },
            VariantSize {
                name: "thumb".into(),
                width: tw,
                height: th,
            },
        ],
        files,
    })
}

/// A link card's image: fitted in [`CARD_MAX`] px, WebP only (every
/// browser kith supports shows WebP; the JPEG copies of photos are for
/// downloads). Returns the bytes and the size.
pub fn card(img: DynamicImage) -> (Vec<u8>, u32, u32) {
    let px = Pixels::of(img);
    let (w, h) = fit(px.width, px.height, CARD_MAX);
    (px.resized(w, h, None).webp(), w, h)
}

/// A card is shown at most about 600 px wide on a desktop feed; twice
/// that would be sharp on every screen but cost four times the bytes in a
/// row of the database shared by every node.
pub const CARD_MAX: u32 = 600;

/// An avatar: the centred square, at each of [`AVATAR_SIZES`], WebP.
pub fn avatar(img: DynamicImage) -> Result<Photo, ImageError> {
    use kith_core::media::Output;
    let px = Pixels::of(img);
    let side = px.width.min(px.height);
    let crop = (
        f64::from(px.width - side) / 2.0,
        f64::from(px.height - side) / 2.0,
        f64::from(side),
        f64::from(side),
    );
    let largest = AVATAR_SIZES[AVATAR_SIZES.len() - 1].min(side);
    let big = px.resized(largest, largest, Some(crop));
    let blurhash = big.blurhash()?;
    let files = AVATAR_SIZES
        .iter()
        .map(|&s| {
            let s_px = s.min(side);
            Encoded {
                output: Output::Avatar(s),
                bytes: big.resized(s_px, s_px, None).webp(),
            }
        })
        .collect();
    Ok(Photo {
        width: px.width,
        height: px.height,
        blurhash,
        variants: Vec::new(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb, Rgba};

    fn gradient(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(w, h, |x, y| {
            Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
        }))
    }

    #[test]
    fn a_photo_gets_both_variants_in_both_formats() {
        let p = photo(gradient(3000, 2000)).expect("processed");
        assert_eq!((p.width, p.height), (3000, 2000));
        assert_eq!(p.variants[0].width, 2048);
        assert_eq!(p.variants[0].height, 1365);
        assert_eq!((p.variants[1].width, p.variants[1].height), (400, 267));
        assert_eq!(p.files.len(), 4);
        for f in &p.files {
            let decoded = image::load_from_memory(&f.bytes).expect("decodable output");
            assert!(
                decoded.width() == 2048 || decoded.width() == 400,
                "{}",
                decoded.width()
            );
        }
        assert!(blurhash::decode(&p.blurhash, 8, 8, 1.0).is_ok());
    }

    #[test]
    fn a_small_photo_is_never_enlarged() {
        let p = photo(gradient(300, 200)).expect("processed");
        assert_eq!((p.variants[0].width, p.variants[0].height), (300, 200));
        assert_eq!((p.variants[1].width, p.variants[1].height), (300, 200));
    }

    #[test]
    fn transparency_survives_in_webp_and_is_laid_on_white_in_jpeg() {
        let img = DynamicImage::ImageRgba8(ImageBuffer::from_pixel(64, 64, Rgba([0, 0, 0, 0])));
        let p = photo(img).expect("processed");
        let webp = image::load_from_memory(&p.files[0].bytes).expect("webp");
        assert!(webp.color().has_alpha());
        let jpeg = image::load_from_memory(&p.files[1].bytes)
            .expect("jpeg")
            .into_rgb8();
        assert!(jpeg.get_pixel(10, 10).0.iter().all(|&c| c > 240));
    }

    #[test]
    fn an_avatar_is_the_centred_square() {
        // Left third red, middle green, right blue: the square is green.
        let img = DynamicImage::ImageRgb8(ImageBuffer::from_fn(900, 300, |x, _| match x / 300 {
            0 => Rgb([255, 0, 0]),
            1 => Rgb([0, 255, 0]),
            _ => Rgb([0, 0, 255]),
        }));
        let a = avatar(img).expect("processed");
        assert_eq!(a.files.len(), 3);
        for (f, size) in a.files.iter().zip(AVATAR_SIZES) {
            let d = image::load_from_memory(&f.bytes).expect("webp").into_rgb8();
            assert_eq!((d.width(), d.height()), (size, size));
            let c = d.get_pixel(size / 2, size / 2).0;
            assert!(c[1] > 200 && c[0] < 60 && c[2] < 60, "{c:?}");
        }
    }
}
