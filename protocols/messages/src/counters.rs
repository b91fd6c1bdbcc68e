//! A counter page: named `u64` counters that one component publishes in a
//! shared region and others map read-only (the network stack's frame, drop
//! and socket counters, shown by the HTTP status page).
//!
//! Layout (little-endian 8-byte words, the region seen as `[AtomicU64]`):
//!
//! | word | field |
//! |---|---|
//! | 0 | magic `"WCOUNTRS"` |
//! | 1 | sequence: odd while the writer updates, even when the page is consistent |
//! | 2 | number of entries |
//! | 3 | reserved, zero |
//! | 4.. | entries of [`ENTRY_WORDS`] words: [`NAME_BYTES`] of ASCII name (NUL padded), then the value |
//!
//! The writer is the only one that changes the page; a reader copies the page
//! out between two reads of an even, unchanged sequence number (a seqlock), so
//! it never acts on a half-written page. A reader is never trusted to write
//! (its mapping is read-only) and a writer is not trusted either: the reader
//! checks the magic, bounds the count by the page it mapped, and accepts only
//! printable names.

use core::sync::atomic::{AtomicU64, Ordering};

/// `"WCOUNTRS"` as a little-endian word.
pub const MAGIC: u64 = u64::from_le_bytes(*b"WCOUNTRS");
/// Bytes of a counter name.
pub const NAME_BYTES: usize = 24;
/// Words per entry: the name, then the value.
pub const ENTRY_WORDS: usize = NAME_BYTES / 8 + 1;
/// Words before the first entry.
pub const HEADER_WORDS: usize = 4;

/// Entries a page of `words` words holds.
pub const fn capacity(words: usize) -> usize {
    words.saturating_sub(HEADER_WORDS) / ENTRY_WORDS
}

/// Why a page could not be written or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterPageError {
    /// More counters than the page holds.
    TooMany {
        /// Counters given.
        counters: usize,
        /// Entries the page holds.
        capacity: usize,
    },
    /// A name is empty, too long or not printable ASCII.
    BadName,
    /// The page does not start with [`MAGIC`] (not written yet).
    NotInitialised,
    /// The writer kept changing the page while we read it.
    Busy,
    /// The page claims more entries than it can hold.
    BadCount(u64),
}

fn name_ok(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= NAME_BYTES && name.iter().all(|b| b.is_ascii_graphic())
}

fn name_words(name: &str) -> [u64; NAME_BYTES / 8] {
    let mut bytes = [0u8; NAME_BYTES];
    bytes[..name.len()].copy_from_slice(name.as_bytes());
    let mut words = [0u64; NAME_BYTES / 8];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *word = u64::from_le_bytes(b);
    }
    words
}

/// The writing side of a counter page.
pub struct CounterPageWriter<'a> {
    words: &'a [AtomicU64],
    count: usize,
}

impl<'a> CounterPageWriter<'a> {
    /// Lays out the page with `names` (in this order) and zero values. The
    /// names never change afterwards; [`update`](Self::update) writes values.
    pub fn new(words: &'a [AtomicU64], names: &[&str]) -> Result<Self, CounterPageError> {
        let capacity = capacity(words.len());
        if names.len() > capacity {
            return Err(CounterPageError::TooMany {
                counters: names.len(),
                capacity,
            });
        }
        if !names.iter().all(|n| name_ok(n.as_bytes())) {
            return Err(CounterPageError::BadName);
        }
        words[0].store(0, Ordering::Relaxed);
        words[1].store(1, Ordering::Relaxed);
        words[2].store(names.len() as u64, Ordering::Relaxed);
        words[3].store(0, Ordering::Relaxed);
        for (index, name) in names.iter().enumerate() {
            let at = HEADER_WORDS + index * ENTRY_WORDS;
            for (i, w) in name_words(name).iter().enumerate() {
                words[at + i].store(*w, Ordering::Relaxed);
            }
            words[at + NAME_BYTES / 8].store(0, Ordering::Relaxed);
        }
        words[1].store(2, Ordering::Release);
        words[0].store(MAGIC, Ordering::Release);
        Ok(Self {
            words,
            count: names.len(),
        })
    }

    /// Writes the values, in the order of the names given to [`new`](Self::new)
    /// (extra values are ignored, missing ones keep their old value).
    pub fn update(&mut self, values: impl IntoIterator<Item = u64>) {
        let sequence = self.words[1].load(Ordering::Relaxed);
        self.words[1].store(sequence.wrapping_add(1), Ordering::Relaxed);
        // Readers that see the odd sequence retry; the fence keeps the value
        // stores after it.
        core::sync::atomic::fence(Ordering::Release);
        for (index, value) in values.into_iter().take(self.count).enumerate() {
            let at = HEADER_WORDS + index * ENTRY_WORDS + NAME_BYTES / 8;
            self.words[at].store(value, Ordering::Relaxed);
        }
        self.words[1].store(sequence.wrapping_add(2), Ordering::Release);
    }
}

/// One counter as a reader copied it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    name: [u8; NAME_BYTES],
    name_len: u8,
    /// The value.
    pub value: u64,
}

impl Counter {
    /// The name (printable ASCII, checked when read).
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_len as usize]).unwrap_or("?")
    }
}

/// How many times a reader retries while the writer is busy before it gives
/// up: the writer holds the page odd for a few hundred stores at most, so a
/// reader that sees it busy this often is racing a writer that stopped
/// half-way (a crash); it reports `Busy` instead of spinning forever.
const READ_ATTEMPTS: usize = 64;

/// Copies the page out of `words` into `out` (at most `N` counters).
pub fn read<const N: usize>(
    words: &[AtomicU64],
    out: &mut heapless::Vec<Counter, N>,
) -> Result<(), CounterPageError> {
    for _ in 0..READ_ATTEMPTS {
        out.clear();
        if words.len() < HEADER_WORDS || words[0].load(Ordering::Acquire) != MAGIC {
            return Err(CounterPageError::NotInitialised);
        }
        let before = words[1].load(Ordering::Acquire);
        if before % 2 == 1 {
            core::hint::spin_loop();
            continue;
        }
        let count = words[2].load(Ordering::Relaxed);
        if count as usize > capacity(words.len()).min(N) {
            return Err(CounterPageError::BadCount(count));
        }
        let mut names_ok = true;
        for index in 0..count as usize {
            let at = HEADER_WORDS + index * ENTRY_WORDS;
            let mut name = [0u8; NAME_BYTES];
            for i in 0..NAME_BYTES / 8 {
                name[i * 8..i * 8 + 8]
                    .copy_from_slice(&words[at + i].load(Ordering::Relaxed).to_le_bytes());
            }
            let name_len = name.iter().position(|b| *b == 0).unwrap_or(NAME_BYTES);
            names_ok &= name_ok(&name[..name_len]);
            let value = words[at + NAME_BYTES / 8].load(Ordering::Relaxed);
            // `count <= N` was checked, so this push cannot fail.
            let _ = out.push(Counter {
                name,
                name_len: name_len as u8,
                value,
            });
        }
        core::sync::atomic::fence(Ordering::Acquire);
        if words[1].load(Ordering::Relaxed) == before {
            return if names_ok {
                Ok(())
            } else {
                Err(CounterPageError::BadName)
            };
        }
    }
    Err(CounterPageError::Busy)
}
