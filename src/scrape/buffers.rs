//! [`BufferPool`]: scrape body buffers reused across scrapes, bucketed by
//! size as Prometheus's `util/pool` (1 kB to 100 MB, factor 3).
//!
//! A loop asks for a buffer at least as large as its last body, reads the
//! scrape into it and gives it back. A buffer keeps its bytes (the body it
//! last held) while idle: the next body overwrites them in place, where
//! reading into cleared capacity would zero it first. Shared by all loops of a manager; each
//! bucket is a short critical section. A bucket keeps at most
//! [`MAX_PER_BUCKET`] idle buffers, so an edge box does not hold on to the
//! peak of a burst forever.

use parking_lot::Mutex;

/// Smallest bucket, in bytes.
const MIN_SIZE: usize = 1_000;
/// Largest bucket, in bytes; larger buffers are not kept.
const MAX_SIZE: usize = 100_000_000;
/// Growth factor between buckets.
const FACTOR: usize = 3;
/// Idle buffers kept per bucket.
pub const MAX_PER_BUCKET: usize = 8;

/// See the module documentation.
#[derive(Debug)]
pub struct BufferPool {
    /// Bucket capacities, ascending.
    sizes: Vec<usize>,
    /// Idle buffers per bucket, each with capacity >= its bucket size.
    buckets: Vec<Mutex<Vec<Vec<u8>>>>,
}

impl Default for BufferPool {
    fn default() -> BufferPool {
        BufferPool::new()
    }
}

impl BufferPool {
    /// A pool with Prometheus's buckets: 1 kB, 3 kB, 9 kB, ... up to 100 MB.
    pub fn new() -> BufferPool {
        let mut sizes = Vec::new();
        let mut size = MIN_SIZE;
        while size <= MAX_SIZE {
            sizes.push(size);
            size *= FACTOR;
        }
        let buckets = sizes.iter().map(|_| Mutex::new(Vec::new())).collect();
        BufferPool { sizes, buckets }
    }

    /// A buffer with capacity for at least `size` bytes; it may hold an
    /// earlier body, for the next one to overwrite.
    pub fn get(&self, size: usize) -> Vec<u8> {
        match self.sizes.iter().position(|&s| s >= size) {
            Some(i) => match self.buckets[i].lock().pop() {
                Some(buf) => buf,
                None => Vec::with_capacity(self.sizes[i]),
            },
            None => Vec::with_capacity(size),
        }
    }

    /// Returns a buffer for reuse, its bytes kept; it lands in the largest
    /// bucket its capacity covers.
    pub fn put(&self, buf: Vec<u8>) {
        let cap = buf.capacity();
        let Some(i) = self.sizes.iter().rposition(|&s| s <= cap) else {
            return;
        };
        let mut bucket = self.buckets[i].lock();
        if bucket.len() < MAX_PER_BUCKET {
            bucket.push(buf);
        }
    }

    /// Bytes held by idle buffers.
    pub fn idle_bytes(&self) -> usize {
        self.buckets
            .iter()
            .map(|b| b.lock().iter().map(Vec::capacity).sum::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_sized_and_reused() {
        let pool = BufferPool::new();
        let mut b = pool.get(5_000);
        assert!(b.capacity() >= 9_000);
        b.extend_from_slice(b"last body");
        let ptr = b.as_ptr();
        pool.put(b);
        let again = pool.get(4_000);
        assert_eq!(again.as_ptr(), ptr, "reused from the 9 kB bucket");
        assert_eq!(again, b"last body", "bytes kept for overwriting");
        let huge = pool.get(200_000_000);
        assert!(huge.capacity() >= 200_000_000);
        assert!(pool.get(0).capacity() >= MIN_SIZE);
    }

    #[test]
    fn idle_buffers_are_bounded() {
        let pool = BufferPool::new();
        for _ in 0..MAX_PER_BUCKET + 5 {
            pool.put(Vec::with_capacity(1_000));
        }
        assert_eq!(pool.idle_bytes(), MAX_PER_BUCKET * 1_000);
    }
}
