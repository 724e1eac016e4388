//! bytes: the word-at-a-time helpers every hot loop shares (the parser, the address
//! reader, the `check` printer), in one place so each trick exists once.
//!
//! Finding one byte in the short words of a log line (a host, a tag, a user, the last word
//! before the address) is done eight bytes at a time in a `u64`: `memchr` pays a dispatch
//! and setup per call that a 5–30 byte search never earns back, and a plain byte loop is
//! one compare and one branch per byte. Digits are read the same way. This is safe code,
//! and stays linear on long lines.

/// One in every byte.
pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte.
const HIGHS: u64 = 0x8080_8080_8080_8080;
const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `x` that is zero, and no other bit (no false positives, so
/// the highest bit is as exact as the lowest).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    !((x & LO7).wrapping_add(LO7) | x | LO7)
}

/// Eight bytes as a word, first byte lowest.
#[inline]
pub(crate) fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_le_bytes(w)
}

/// The first index of `b` in `hay`, as `hay.iter().position(|&c| c == b)`.
#[inline]
pub(crate) fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    let pat = u64::from_ne_bytes([b; 8]);
    let mut chunks = hay.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let z = zero_bytes(word(chunk) ^ pat);
        if z != 0 {
            return Some(at + (z.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == b)
        .map(|p| at + p)
}

/// The value of `digits` if every byte is an ASCII digit, in one pass; at most 19 of them
/// (a `u64` holds any 19-digit number), which callers bound more tightly.
#[inline]
pub(crate) fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u64::from(d);
    }
    Some(n)
}

/// The last index of `b` in `hay`, as `hay.iter().rposition(|&c| c == b)`.
#[inline]
pub(crate) fn rfind_byte(hay: &[u8], b: u8) -> Option<usize> {
    let pat = u64::from_ne_bytes([b; 8]);
    let mut chunks = hay.rchunks_exact(8);
    let mut end = hay.len();
    for chunk in &mut chunks {
        end -= 8;
        let z = zero_bytes(word(chunk) ^ pat);
        if z != 0 {
            return Some(end + 7 - (z.leading_zeros() / 8) as usize);
        }
    }
    chunks.remainder().iter().rposition(|&c| c == b)
}

/// `w` with every byte `b`.
#[inline]
pub(crate) const fn splat(b: u8) -> u64 {
    ONES * b as u64
}

/// How many of the eight bytes of `w` (first byte lowest) are ASCII digits before the first
/// that is not. A byte is flagged when it is above `9` (adding 0x46 sets its high bit), below
/// `0` (subtracting 0x30 borrows) or not ASCII; carries and borrows only start at a flagged
/// byte, so they can only disturb the bytes after the first one.
pub(crate) fn leading_digits(w: u64) -> usize {
    let flagged = (w.wrapping_add(ONES * 0x46) | w.wrapping_sub(ONES * 0x30) | w) & HIGHS;
    (flagged.trailing_zeros() / 8) as usize
}

/// The mask of the first `n` (1 to 8) bytes of a word.
pub(crate) fn digit_mask(n: usize) -> u64 {
    u64::MAX >> (64 - 8 * n)
}

/// The bytes of `w` under `mask` (its first 1 to 8), all digits, as an eight-digit number
/// with zeros in place of the rest: pairs, then quads, then the eight, each step exact
/// within its lane.
#[inline]
pub(crate) fn masked_digits(w: u64, mask: u64) -> u32 {
    let mut d = w.wrapping_sub(ONES * 0x30) & mask;
    d = (d.wrapping_mul(10) + (d >> 8)) & 0x00ff_00ff_00ff_00ff;
    d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_ffff_0000_ffff;
    d = (d.wrapping_mul(10_000) + (d >> 32)) & 0xffff_ffff;
    d as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges() {
        assert_eq!(find_byte(b"", b' '), None);
        assert_eq!(rfind_byte(b"", b' '), None);
        assert_eq!(find_byte(b"abcdefgh ", b' '), Some(8));
        assert_eq!(rfind_byte(b" abcdefgh", b' '), Some(0));
        assert_eq!(find_byte(b"a b c d e f g h i", b' '), Some(1));
        assert_eq!(rfind_byte(b"a b c d e f g h i", b' '), Some(15));
        // A byte one above the pattern next to a match must not count (borrow propagation).
        assert_eq!(rfind_byte(b"x !abcdefgh", b' '), Some(1));
        assert_eq!(
            rfind_byte(&[0x21, 0x20, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21], b' '),
            Some(1)
        );
        assert_eq!(
            find_byte(&[0x80, 0xff, 0x00, 0x7f, 0x20, 1, 2, 3, 4], 0x20),
            Some(4)
        );
        assert_eq!(find_byte(&[0xff; 9], 0xff), Some(0));
        assert_eq!(rfind_byte(&[0xff; 9], 0xff), Some(8));
    }

    proptest! {
        #[test]
        fn agrees_with_iterators(
            hay in proptest::collection::vec(prop_oneof![Just(b' '), Just(b'!'), Just(0x1f), Just(0xa0), any::<u8>()], 0..80),
            b in prop_oneof![Just(b' '), Just(b'['), any::<u8>()],
        ) {
            prop_assert_eq!(find_byte(&hay, b), hay.iter().position(|&c| c == b));
            prop_assert_eq!(rfind_byte(&hay, b), hay.iter().rposition(|&c| c == b));
        }
    }
}
