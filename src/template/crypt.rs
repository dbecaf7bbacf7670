//! Hashing the `hash`/`password_hash` filters need beyond the sha1/sha2 crates: MD5 (RFC 1321)
//! and SHA-crypt (`$5$`/`$6$`, Ulrich Drepper's specification), plus OS randomness.

use sha2::Digest;

/// Random bytes from the OS (falls back to a time-seeded generator if /dev/urandom is missing).
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(&mut buf).is_ok() {
            return buf;
        }
    }
    let mut rng = SplitMix::from_time();
    for b in buf.iter_mut() {
        *b = rng.next() as u8;
    }
    buf
}

/// A small deterministic generator (SplitMix64) for `random`/`shuffle` with a seed.
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn from_seed_str(seed: &str) -> SplitMix {
        let d = sha2::Sha256::digest(seed.as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        SplitMix(u64::from_le_bytes(b))
    }

    pub(crate) fn from_time() -> SplitMix {
        let mut b = [0u8; 8];
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            use std::io::Read;
            if f.read_exact(&mut b).is_ok() {
                return SplitMix(u64::from_le_bytes(b));
            }
        }
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        SplitMix(t ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in 0..n (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// MD5 digest (RFC 1321).
pub(crate) fn md5(data: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
        .collect();
    let mut a0: u32 = 0x67452301;
    let mut b0: u32 = 0xefcdab89;
    let mut c0: u32 = 0x98badcfe;
    let mut d0: u32 = 0x10325476;
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (mut f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&a0.to_le_bytes());
    out[4..8].copy_from_slice(&b0.to_le_bytes());
    out[8..12].copy_from_slice(&c0.to_le_bytes());
    out[12..].copy_from_slice(&d0.to_le_bytes());
    out
}

const CRYPT_ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A random salt of crypt's alphabet.
pub(crate) fn random_salt(len: usize) -> String {
    random_bytes(len)
        .into_iter()
        .map(|b| CRYPT_ALPHABET[(b % 64) as usize] as char)
        .collect()
}

fn b64_24(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = ((b2 as u32) << 16) | ((b1 as u32) << 8) | b0 as u32;
    for _ in 0..n {
        out.push(CRYPT_ALPHABET[(w & 0x3f) as usize] as char);
        w >>= 6;
    }
}

fn sha_crypt_core<D: Digest + Clone>(pass: &[u8], salt: &[u8], rounds: u32) -> Vec<u8> {
    let hlen = <D as Digest>::output_size();
    let mut ctx_b = D::new();
    ctx_b.update(pass);
    ctx_b.update(salt);
    ctx_b.update(pass);
    let b = ctx_b.finalize().to_vec();

    let mut ctx_a = D::new();
    ctx_a.update(pass);
    ctx_a.update(salt);
    let mut cnt = pass.len();
    while cnt > hlen {
        ctx_a.update(&b);
        cnt -= hlen;
    }
    ctx_a.update(&b[..cnt]);
    let mut cnt = pass.len();
    while cnt > 0 {
        if cnt & 1 != 0 {
            ctx_a.update(&b);
        } else {
            ctx_a.update(pass);
        }
        cnt >>= 1;
    }
    let mut a = ctx_a.finalize().to_vec();

    let mut ctx_dp = D::new();
    for _ in 0..pass.len() {
        ctx_dp.update(pass);
    }
    let dp = ctx_dp.finalize().to_vec();
    let p: Vec<u8> = (0..pass.len()).map(|i| dp[i % hlen]).collect();

    let mut ctx_ds = D::new();
    for _ in 0..(16 + a[0] as usize) {
        ctx_ds.update(salt);
    }
    let ds = ctx_ds.finalize().to_vec();
    let s: Vec<u8> = (0..salt.len()).map(|i| ds[i % hlen]).collect();

    for i in 0..rounds {
        let mut c = D::new();
        if i & 1 != 0 {
            c.update(&p);
        } else {
            c.update(&a);
        }
        if i % 3 != 0 {
            c.update(&s);
        }
        if i % 7 != 0 {
            c.update(&p);
        }
        if i & 1 != 0 {
            c.update(&a);
        } else {
            c.update(&p);
        }
        a = c.finalize().to_vec();
    }
    a
}

fn crypt_prefix(id: &str, salt: &str, rounds: Option<u32>) -> (String, String, u32) {
    let salt: String = salt.chars().take(16).collect();
    let r = rounds.unwrap_or(5000).clamp(1000, 999_999_999);
    let prefix = match rounds {
        Some(n) if n != 5000 => format!("${id}$rounds={r}${salt}$"),
        _ => format!("${id}${salt}$"),
    };
    (prefix, salt, r)
}

/// SHA-512-crypt (`$6$`), as glibc's crypt(3) and `openssl passwd -6` compute it.
pub(crate) fn sha512_crypt(pass: &str, salt: &str, rounds: Option<u32>) -> String {
    let (mut out, salt, r) = crypt_prefix("6", salt, rounds);
    let h = sha_crypt_core::<sha2::Sha512>(pass.as_bytes(), salt.as_bytes(), r);
    const ORDER: [(usize, usize, usize); 21] = [
        (0, 21, 42),
        (22, 43, 1),
        (44, 2, 23),
        (3, 24, 45),
        (25, 46, 4),
        (47, 5, 26),
        (6, 27, 48),
        (28, 49, 7),
        (50, 8, 29),
        (9, 30, 51),
        (31, 52, 10),
        (53, 11, 32),
        (12, 33, 54),
        (34, 55, 13),
        (56, 14, 35),
        (15, 36, 57),
        (37, 58, 16),
        (59, 17, 38),
        (18, 39, 60),
        (40, 61, 19),
        (62, 20, 41),
    ];
    for (x, y, z) in ORDER {
        b64_24(&mut out, h[x], h[y], h[z], 4);
    }
    b64_24(&mut out, 0, 0, h[63], 2);
    out
}

/// SHA-256-crypt (`$5$`).
pub(crate) fn sha256_crypt(pass: &str, salt: &str, rounds: Option<u32>) -> String {
    let (mut out, salt, r) = crypt_prefix("5", salt, rounds);
    let h = sha_crypt_core::<sha2::Sha256>(pass.as_bytes(), salt.as_bytes(), r);
    const ORDER: [(usize, usize, usize); 10] = [
        (0, 10, 20),
        (21, 1, 11),
        (12, 22, 2),
        (3, 13, 23),
        (24, 4, 14),
        (15, 25, 5),
        (6, 16, 26),
        (27, 7, 17),
        (18, 28, 8),
        (9, 19, 29),
    ];
    for (x, y, z) in ORDER {
        b64_24(&mut out, h[x], h[y], h[z], 4);
    }
    b64_24(&mut out, 0, h[31], h[30], 3);
    out
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
