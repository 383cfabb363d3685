/// What the page cache gave a positional read (``FileIO`` tries it before the ring).
/// A plain value, used on the calling thread only.
enum CachedReadResult {
    /// The whole read: `n` bytes (short only at the end of the file).
    case served(Int)
    /// The first `n` bytes of the range (0 < n < count): the rest is not cached.
    case partial(Int)
    /// Nothing: the ring reads the whole range.
    case notServed
}
