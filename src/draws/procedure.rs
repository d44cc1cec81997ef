//! The drawing rule, pure and small enough to redo by hand (`scripts/ledger.py draw`).
//!
//! * The seed is 32 random bytes, published as 64 lower-case hex digits after the close. The
//!   commitment, published at creation, is `hex(SHA-256(seed bytes))`.
//! * The entry list is frozen at close. Each entry is the UTF-8 line
//!   `number|kind|ref_id|masked_name\n` (number from 1, in order of payment or donation; kind
//!   `order` or `donation`; ref_id the order's or donation's id). `entries_hash` is
//!   `hex(SHA-256(the lines concatenated))` (of nothing for an empty list).
//! * `ledger_head` is the hash (64 hex digits) of the credit ledger's last entry when the draw
//!   closed (64 zeros for an empty ledger).
//! * The base is `SHA-256(seed ‖ ledger_head ‖ entries_hash)`, each part as its 32 raw bytes
//!   (96 bytes hashed).
//! * Random numbers come in counter mode: block c (c = 0, 1, 2, …) is
//!   `SHA-256(base ‖ c as 8 bytes big-endian)`, and its first 8 bytes, big-endian, are the
//!   number x. To pick among the m entries left, x is rejected when
//!   `x ≥ 2^64 − (2^64 mod m)` (so every index is equally likely) and the next block is
//!   taken; otherwise the entry at index `x mod m` of the remaining list (in entry-number
//!   order) wins and leaves the list. The counter is never reset.
//! * Prizes are handed out in the order they were listed, each `count` times: winner 1
//!   takes the first prize, and so on, until prizes or entries run out.

use sha2::{Digest, Sha256};

/// One line of the frozen entry list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLine {
    pub number: i64,
    pub kind: String,
    pub ref_id: i64,
    pub masked_name: String,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `hex(SHA-256(seed bytes))`.
pub fn commitment(seed: &[u8]) -> String {
    sha256_hex(seed)
}

pub fn entries_text(entries: &[EntryLine]) -> String {
    entries.iter().map(|e| format!("{}|{}|{}|{}\n", e.number, e.kind, e.ref_id, e.masked_name)).collect()
}

pub fn entries_hash(entries: &[EntryLine]) -> String {
    sha256_hex(entries_text(entries).as_bytes())
}

/// `SHA-256(seed ‖ ledger_head ‖ entries_hash)`, each given as 64 hex digits; None when one
/// is not 32 bytes of hex.
pub fn base(seed_hex: &str, ledger_head_hex: &str, entries_hash_hex: &str) -> Option<[u8; 32]> {
    let mut h = Sha256::new();
    for part in [seed_hex, ledger_head_hex, entries_hash_hex] {
        let bytes = hex::decode(part).ok().filter(|b| b.len() == 32)?;
        h.update(&bytes);
    }
    Some(h.finalize().into())
}

/// The winning entry numbers, in the order drawn: `k` of `numbers` (ascending entry numbers)
/// without replacement, by counter-mode SHA-256 with rejection sampling.
pub fn winners(base: &[u8; 32], numbers: &[i64], k: usize) -> Vec<i64> {
    let mut left: Vec<i64> = numbers.to_vec();
    let mut out = Vec::with_capacity(k.min(left.len()));
    let mut counter: u64 = 0;
    while out.len() < k && !left.is_empty() {
        let m = left.len() as u128;
        let limit = (1u128 << 64) - ((1u128 << 64) % m);
        loop {
            let mut h = Sha256::new();
            h.update(base);
            h.update(counter.to_be_bytes());
            counter += 1;
            let block = h.finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(&block[..8]);
            let x = u128::from(u64::from_be_bytes(first));
            if x < limit {
                out.push(left.remove((x % m) as usize));
                break;
            }
        }
    }
    out
}

/// A name as published: its first character and a star (李四 → 李*).
pub fn mask(name: &str) -> String {
    match name.trim().chars().next() {
        Some(c) => format!("{c}*"),
        None => "*".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: i64) -> Vec<EntryLine> {
        (1..=n)
            .map(|i| EntryLine { number: i, kind: "order".into(), ref_id: 100 + i, masked_name: "李*".into() })
            .collect()
    }

    fn draw(seed: &str, head: &str, list: &[EntryLine], k: usize) -> Vec<i64> {
        let b = base(seed, head, &entries_hash(list)).expect("hex");
        let numbers: Vec<i64> = list.iter().map(|e| e.number).collect();
        winners(&b, &numbers, k)
    }

    const SEED: &str = "0101010101010101010101010101010101010101010101010101010101010101";
    const HEAD: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn winners_are_distinct_entries_and_stable() {
        let list = entries(50);
        let w = draw(SEED, HEAD, &list, 10);
        assert_eq!(w.len(), 10);
        let mut sorted = w.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 10, "without replacement: {w:?}");
        assert!(w.iter().all(|n| (1..=50).contains(n)));
        assert_eq!(w, draw(SEED, HEAD, &list, 10), "the same inputs draw the same winners");
        // More prizes than entries: everyone wins once.
        let all = draw(SEED, HEAD, &entries(3), 10);
        let mut all_sorted = all.clone();
        all_sorted.sort_unstable();
        assert_eq!(all_sorted, vec![1, 2, 3]);
        assert!(draw(SEED, HEAD, &[], 3).is_empty());
    }

    #[test]
    fn changing_one_entry_or_the_seed_or_the_head_changes_the_winners() {
        let list = entries(200);
        let w = draw(SEED, HEAD, &list, 5);
        let mut changed = list.clone();
        changed[17].masked_name = "王*".into();
        assert_ne!(entries_hash(&list), entries_hash(&changed));
        assert_ne!(w, draw(SEED, HEAD, &changed, 5), "one entry changed");
        let mut other_ref = list.clone();
        other_ref[3].ref_id += 1;
        assert_ne!(w, draw(SEED, HEAD, &other_ref, 5), "one entry's reference changed");
        let seed2 = format!("{}02", &SEED[..62]);
        assert_ne!(w, draw(&seed2, HEAD, &list, 5), "the seed changed");
        let head2 = format!("{}1", &HEAD[..63]);
        assert_ne!(w, draw(SEED, &head2, &list, 5), "the ledger head changed");
    }

    #[test]
    fn the_encoding_is_as_documented() {
        let list = entries(2);
        assert_eq!(entries_text(&list), "1|order|101|李*\n2|order|102|李*\n");
        assert_eq!(entries_hash(&[]), sha256_hex(b""));
        let seed = hex::decode(SEED).expect("hex");
        assert_eq!(commitment(&seed), sha256_hex(&seed));
        let mut joined = seed.clone();
        joined.extend(hex::decode(HEAD).expect("hex"));
        joined.extend(hex::decode(entries_hash(&list)).expect("hex"));
        assert_eq!(base(SEED, HEAD, &entries_hash(&list)).map(hex::encode), Some(sha256_hex(&joined)));
        assert!(base("zz", HEAD, HEAD).is_none());
        assert_eq!(mask("李四"), "李*");
        assert_eq!(mask(" Alice"), "A*");
        assert_eq!(mask(""), "*");
    }

    #[test]
    fn picks_are_roughly_uniform() {
        // 3 entries, 1 winner, over many bases: each entry wins about a third of the time.
        let list = entries(3);
        let numbers: Vec<i64> = list.iter().map(|e| e.number).collect();
        let mut wins = [0u32; 3];
        for i in 0u32..3000 {
            let b: [u8; 32] = Sha256::digest(i.to_be_bytes()).into();
            wins[(winners(&b, &numbers, 1)[0] - 1) as usize] += 1;
        }
        assert!(wins.iter().all(|w| (850..1150).contains(w)), "{wins:?}");
    }
}
