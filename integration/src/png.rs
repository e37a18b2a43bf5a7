//! A tiny RGB raster and PNG writer for the benchmark pictures, with no
//! compression crate: the zlib stream holds stored (uncompressed) deflate
//! blocks, followed by its Adler-32; every chunk carries its CRC-32. Files
//! are larger than a real encoder's but any viewer reads them.

/// An 8-bit RGB image, row-major.
pub struct Image {
    pub width: u32,
    pub height: u32,
    px: Vec<u8>,
}

pub type Rgb = [u8; 3];

impl Image {
    /// A `width` x `height` image filled with `bg`.
    pub fn new(width: u32, height: u32, bg: Rgb) -> Image {
        let mut px = Vec::with_capacity(width as usize * height as usize * 3);
        for _ in 0..width as usize * height as usize {
            px.extend_from_slice(&bg);
        }
        Image { width, height, px }
    }

    /// Fill the rectangle [x0, x1) x [y0, y1), clipped to the image.
    pub fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
        let (x0, x1) = (x0.clamp(0, self.width as i64) as usize, x1.clamp(0, self.width as i64) as usize);
        let (y0, y1) = (y0.clamp(0, self.height as i64) as usize, y1.clamp(0, self.height as i64) as usize);
        for y in y0..y1 {
            for x in x0..x1 {
                let o = (y * self.width as usize + x) * 3;
                self.px[o..o + 3].copy_from_slice(&c);
            }
        }
    }

    /// The pixel at (x, y).
    pub fn get(&self, x: u32, y: u32) -> Rgb {
        let o = (y as usize * self.width as usize + x as usize) * 3;
        [self.px[o], self.px[o + 1], self.px[o + 2]]
    }

    /// The image as a PNG file.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        let mut ihdr = Vec::with_capacity(13);
        ihdr.extend_from_slice(&self.width.to_be_bytes());
        ihdr.extend_from_slice(&self.height.to_be_bytes());
        // Bit depth 8, colour type 2 (RGB), deflate, no filter, no interlace.
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(&mut out, b"IHDR", &ihdr);
        let row = self.width as usize * 3;
        let mut raw = Vec::with_capacity((row + 1) * self.height as usize);
        for y in 0..self.height as usize {
            raw.push(0); // filter type None
            raw.extend_from_slice(&self.px[y * row..(y + 1) * row]);
        }
        chunk(&mut out, b"IDAT", &zlib_stored(&raw));
        chunk(&mut out, b"IEND", &[]);
        out
    }
}

/// 3x5 glyphs for axis labels: digits, `.`, `-`, `s`, `m` (bit 2 = left).
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        's' => [0, 3, 6, 1, 6],
        'm' => [0, 6, 7, 5, 5],
        ' ' => [0; 5],
        _ => return None,
    })
}

impl Image {
    /// Draw `text` with its top-left corner at (x, y), each font pixel a
    /// `scale` x `scale` square; unknown characters are skipped. Returns
    /// the x after the text.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: i64, c: Rgb) -> i64 {
        let mut x = x;
        for ch in text.chars() {
            let Some(g) = glyph(ch) else { continue };
            for (row, bits) in g.iter().enumerate() {
                for col in 0..3 {
                    if bits & (4 >> col) != 0 {
                        let (px, py) = (x + col * scale, y + row as i64 * scale);
                        self.fill(px, py, px + scale, py + scale, c);
                    }
                }
            }
            x += 4 * scale;
        }
        x
    }
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of stored deflate blocks (at most 65535 bytes each).
pub fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = if data.is_empty() { vec![&[][..]] } else { data.chunks(65535).collect() };
    for (k, b) in blocks.iter().enumerate() {
        z.push(u8::from(k + 1 == blocks.len())); // BFINAL, BTYPE=00
        let len = b.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(b);
    }
    z.extend_from_slice(&adler32(data).to_be_bytes());
    z
}

/// CRC-32 (IEEE, reflected, as PNG and zlib use it).
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    /// Parse the file back: signature, chunk CRCs, header, and the pixels
    /// through the stored blocks and the Adler-32.
    #[test]
    fn png_round_trip() {
        let mut img = Image::new(300, 80, [255, 255, 255]);
        img.fill(10, 5, 20, 9, [200, 0, 30]);
        let png = img.encode();
        assert_eq!(&png[..8], &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]);
        let mut pos = 8;
        let mut kinds = Vec::new();
        let mut idat = Vec::new();
        while pos < png.len() {
            let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
            let body = &png[pos + 4..pos + 8 + len];
            let crc = u32::from_be_bytes(png[pos + 8 + len..pos + 12 + len].try_into().unwrap());
            assert_eq!(crc32(body), crc, "CRC of chunk {:?}", String::from_utf8_lossy(&body[..4]));
            kinds.push(String::from_utf8_lossy(&body[..4]).into_owned());
            if &body[..4] == b"IHDR" {
                assert_eq!(&body[4..12], &[0, 0, 1, 44, 0, 0, 0, 80]);
                assert_eq!(&body[12..], &[8, 2, 0, 0, 0]);
            }
            if &body[..4] == b"IDAT" {
                idat.extend_from_slice(&body[4..]);
            }
            pos += 12 + len;
        }
        assert_eq!(kinds, ["IHDR", "IDAT", "IEND"]);
        // Inflate the stored blocks.
        assert_eq!(idat[0] & 0x0f, 8);
        assert_eq!((u16::from(idat[0]) << 8 | u16::from(idat[1])) % 31, 0, "zlib header check bits");
        let mut p = 2;
        let mut raw = Vec::new();
        loop {
            let last = idat[p] & 1 == 1;
            assert_eq!(idat[p] & 6, 0, "stored block");
            let len = u16::from_le_bytes([idat[p + 1], idat[p + 2]]);
            let nlen = u16::from_le_bytes([idat[p + 3], idat[p + 4]]);
            assert_eq!(len, !nlen);
            raw.extend_from_slice(&idat[p + 5..p + 5 + len as usize]);
            p += 5 + len as usize;
            if last {
                break;
            }
        }
        assert_eq!(u32::from_be_bytes(idat[p..p + 4].try_into().unwrap()), adler32(&raw));
        assert_eq!(raw.len(), 80 * (300 * 3 + 1));
        let at = |x: usize, y: usize| {
            let o = y * (300 * 3 + 1) + 1 + x * 3;
            [raw[o], raw[o + 1], raw[o + 2]]
        };
        assert_eq!(at(10, 5), [200, 0, 30]);
        assert_eq!(at(20, 5), [255, 255, 255]);
        assert_eq!(img.get(19, 8), [200, 0, 30]);
        let mut img = Image::new(20, 10, [255, 255, 255]);
        assert_eq!(img.text(1, 1, "1x0", 1, [0, 0, 0]), 9, "x is skipped");
        assert_eq!(img.get(2, 1), [0, 0, 0]);
        assert_eq!(img.get(1, 1), [255, 255, 255]);
    }
}
