//! A large payload put together from pieces encoded apart, so that a new revision re-encodes
//! only the pieces that changed: each piece is kept plain and deflated on its own (a raw deflate
//! stream ended by a full flush: byte-aligned, no reference to what came before), so the
//! deflated pieces of any order concatenate into one deflate stream. [`Assembly`] adds the text
//! between pieces (the document's and applications' heads and tails) as stored deflate blocks,
//! and wraps the whole as one gzip member: its CRC-32 combined from the pieces' (no byte is read
//! again), its length summed. One member, not a concatenation of members, so every gzip reader
//! takes it. [`ChunkedBody`] serves the chunks without copying them into one buffer, with their
//! exact length (`Content-Length`).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::Context;
use std::task::Poll;

use axum::body::Bytes;
use flate2::Compress;
use flate2::Compression;
use flate2::FlushCompress;
use http_body::Frame;
use http_body::SizeHint;

/// A piece, plain and deflated, with the CRC-32 of its plain bytes.
#[derive(Clone)]
pub struct Piece {
    pub plain: Bytes,
    deflated: Bytes,
    crc: crc32fast::Hasher,
}

/// Deflates pieces one after another with one compressor (its tables allocated once).
pub struct Deflater {
    compress: Compress,
}

impl Default for Deflater {
    fn default() -> Self {
        Self {
            compress: Compress::new(Compression::fast(), false),
        }
    }
}

impl Deflater {
    /// `plain` as a piece. A full flush ends it: the next piece starts with an empty window.
    pub fn piece(&mut self, plain: Vec<u8>) -> Piece {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&plain);
        self.compress.reset();
        let mut out = Vec::with_capacity(plain.len() / 6 + 64);
        let mut read = 0;
        // Each call consumes input or fills the spare room, which grows: bounded by the sizes.
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let before = self.compress.total_in();
            // Writing to memory does not fail; a failure would be a bug in the compressor.
            self.compress
                .compress_vec(&plain[read..], &mut out, FlushCompress::Full)
                .expect("deflating into memory");
            read += (self.compress.total_in() - before) as usize;
            // Done when everything is in and the flush left room to spare (nothing pending).
            if read == plain.len() && out.capacity() - out.len() >= 64 {
                break;
            }
        }
        Piece {
            plain: Bytes::from(plain),
            deflated: Bytes::from(out),
            crc,
        }
    }
}

/// A payload being put together: text and pieces in order, as plain chunks and as one gzip
/// member's chunks.
pub struct Assembly {
    plain: Vec<Bytes>,
    gzip: Vec<Bytes>,
    crc: crc32fast::Hasher,
    length: u64,
    /// Text since the last piece, not yet added.
    pending: Vec<u8>,
}

/// gzip's header: deflate, no flags, no time, no extra flags, unknown OS (RFC 1952 §2.3).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// An empty final block with fixed codes: ends the deflate stream.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// The most a stored block holds (RFC 1951 §3.2.4).
const STORED_MAX: usize = 0xffff;

impl Default for Assembly {
    fn default() -> Self {
        Self {
            plain: Vec::new(),
            gzip: vec![Bytes::from_static(&GZIP_HEADER)],
            crc: crc32fast::Hasher::new(),
            length: 0,
            pending: Vec::new(),
        }
    }
}

impl Assembly {
    /// The buffer for text between pieces.
    pub fn text(&mut self) -> &mut Vec<u8> {
        &mut self.pending
    }

    pub fn piece(&mut self, piece: &Piece) {
        self.flush_text();
        if piece.plain.is_empty() {
            return;
        }
        self.crc.combine(&piece.crc);
        self.length += piece.plain.len() as u64;
        self.plain.push(piece.plain.clone());
        self.gzip.push(piece.deflated.clone());
    }

    /// The plain chunks and the gzip member's chunks.
    pub fn finish(mut self) -> (Vec<Bytes>, Vec<Bytes>) {
        self.flush_text();
        let mut trailer = Vec::with_capacity(10);
        trailer.extend_from_slice(&FINAL_BLOCK);
        trailer.extend_from_slice(&self.crc.finalize().to_le_bytes());
        // ISIZE is the length modulo 2^32.
        trailer.extend_from_slice(&(self.length as u32).to_le_bytes());
        self.gzip.push(Bytes::from(trailer));
        (self.plain, self.gzip)
    }

    /// The pending text as plain bytes and as stored (uncompressed) deflate blocks.
    fn flush_text(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let text = std::mem::take(&mut self.pending);
        self.crc.update(&text);
        self.length += text.len() as u64;
        let mut stored = Vec::with_capacity(text.len() + 5 * (text.len() / STORED_MAX + 1));
        for block in text.chunks(STORED_MAX) {
            // BFINAL 0, BTYPE 00, then (byte-aligned) LEN and its complement.
            stored.push(0);
            let len = block.len() as u16;
            stored.extend_from_slice(&len.to_le_bytes());
            stored.extend_from_slice(&(!len).to_le_bytes());
            stored.extend_from_slice(block);
        }
        self.plain.push(Bytes::from(text));
        self.gzip.push(Bytes::from(stored));
    }
}

/// Total bytes of `chunks`.
pub fn length_of(chunks: &[Bytes]) -> u64 {
    chunks.iter().map(|c| c.len() as u64).sum()
}

/// A response body of shared chunks, sent in order with their exact length. Chunks under
/// [`SMALL_CHUNK`] (a deflated segment can be a few kilobytes) are sent together, copied into
/// frames of about [`FRAME_BYTES`]: every frame passes through the server's layers and costs a
/// few microseconds, which tens of thousands of small frames would add to every fetch.
pub struct ChunkedBody {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

/// What the body's frames are filled to with small chunks.
pub const FRAME_BYTES: usize = 256 * 1024;

/// A chunk this large goes out as it is, uncopied.
pub const SMALL_CHUNK: usize = 64 * 1024;

impl ChunkedBody {
    pub fn new(chunks: &[Bytes]) -> Self {
        Self {
            chunks: chunks.iter().filter(|c| !c.is_empty()).cloned().collect(),
            remaining: length_of(chunks),
        }
    }

    /// The next frame: one large chunk as it is, or small ones copied together.
    fn next_frame(&mut self) -> Option<Bytes> {
        let frame = self.gather()?;
        self.remaining -= frame.len() as u64;
        Some(frame)
    }

    fn gather(&mut self) -> Option<Bytes> {
        let first = self.chunks.pop_front()?;
        if first.len() >= SMALL_CHUNK || self.chunks.front().is_none_or(|c| c.len() >= SMALL_CHUNK) {
            return Some(first);
        }
        let mut frame = Vec::with_capacity(FRAME_BYTES + SMALL_CHUNK);
        frame.extend_from_slice(&first);
        while frame.len() < FRAME_BYTES {
            match self.chunks.front() {
                Some(next) if next.len() < SMALL_CHUNK => {
                    frame.extend_from_slice(next);
                    self.chunks.pop_front();
                }
                _ => break,
            }
        }
        Some(Bytes::from(frame))
    }
}

impl http_body::Body for ChunkedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        Poll::Ready(this.next_frame().map(|frame| Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn joined(chunks: &[Bytes]) -> Vec<u8> {
        chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    fn gunzip(gzip: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        // A single-member reader: it must not need a second member to get everything.
        flate2::read::GzDecoder::new(gzip)
            .read_to_end(&mut plain)
            .expect("valid gzip");
        plain
    }

    #[test]
    fn pieces_and_text_make_one_gzip_member_of_the_whole() {
        let mut deflater = Deflater::default();
        let big: Vec<u8> = (0..200_000u32).flat_map(|n| format!("{n},").into_bytes()).collect();
        let pieces = [
            deflater.piece(b"{\"first\":1}".to_vec()),
            deflater.piece(big.clone()),
            deflater.piece(Vec::new()),
            deflater.piece(b"last".to_vec()),
        ];
        let mut assembly = Assembly::default();
        let mut expected = Vec::new();
        // Pieces reused out of the order they were made in, and text longer than a stored block.
        for (text, piece) in [
            (b"<head>".to_vec(), &pieces[3]),
            (vec![b'x'; 70_000], &pieces[1]),
            (Vec::new(), &pieces[2]),
            (b",".to_vec(), &pieces[0]),
            (b"".to_vec(), &pieces[1]),
        ] {
            assembly.text().extend_from_slice(&text);
            assembly.piece(piece);
            expected.extend_from_slice(&text);
            expected.extend_from_slice(&piece.plain);
        }
        assembly.text().extend_from_slice(b"</tail>");
        expected.extend_from_slice(b"</tail>");
        let (plain, gzip) = assembly.finish();
        assert_eq!(joined(&plain), expected);
        let gzip = joined(&gzip);
        assert_eq!(gunzip(&gzip), expected);
        // The repeated piece is compressed, not stored.
        assert!(gzip.len() < expected.len() / 3, "{} of {}", gzip.len(), expected.len());
    }

    #[test]
    fn an_empty_assembly_is_a_valid_empty_gzip() {
        let (plain, gzip) = Assembly::default().finish();
        assert!(joined(&plain).is_empty());
        assert!(gunzip(&joined(&gzip)).is_empty());
    }

    #[test]
    fn the_body_has_the_chunks_exact_length() {
        let chunks = [Bytes::from_static(b"ab"), Bytes::new(), Bytes::from_static(b"cde")];
        let body = ChunkedBody::new(&chunks);
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(5));
    }

    #[test]
    fn small_chunks_go_out_together_and_large_ones_as_they_are() {
        let small = |n: usize| Bytes::from(vec![b's'; n]);
        let large = Bytes::from(vec![b'L'; SMALL_CHUNK]);
        let mut chunks: Vec<Bytes> = (0..5_000).map(|n| small(100 + n % 7)).collect();
        chunks.insert(2_000, large.clone());
        chunks.push(large.clone());
        let mut body = ChunkedBody::new(&chunks);
        let mut frames = Vec::new();
        while let Some(frame) = body.next_frame() {
            frames.push(frame);
        }
        assert_eq!(joined(&frames), joined(&chunks));
        // 5,000 small chunks of about 100 bytes: two frames, and the two large chunks.
        assert!(frames.len() <= 5, "{} frames", frames.len());
        assert!(
            frames.iter().any(|f| f.as_ptr() == large.as_ptr()),
            "large chunks are not copied"
        );
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(0));
    }
}
