//! A large payload put together from pieces encoded apart, so that a new revision re-encodes
//! only the pieces that changed: each piece is deflated on its own (a raw deflate stream ended
//! by a full flush: byte-aligned, no reference to what came before), so the deflated pieces of
//! any order concatenate into one deflate stream. [`Assembly`] adds the text between pieces (the
//! document's and applications' heads and tails) as stored deflate blocks, and wraps the whole
//! as one gzip member: its CRC-32 combined from the pieces' (no byte is read again), its length
//! summed. One member, not a concatenation of members, so every gzip reader takes it.
//!
//! A piece keeps its plain text only when asked to (payloads small enough to keep twice): a
//! million instances are some 900 MB of JSON but 70 MB gzip'd. [`ChunkedBody`] serves kept
//! chunks without copying them into one buffer; [`InflatingBody`] serves the plain text of a
//! gzip'd payload by inflating it as it is sent. Both give the exact length (`Content-Length`).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::Context;
use std::task::Poll;

use axum::body::Bytes;
use flate2::Compress;
use flate2::Compression;
use flate2::Decompress;
use flate2::FlushCompress;
use flate2::FlushDecompress;
use flate2::Status;
use http_body::Frame;
use http_body::SizeHint;

/// A piece deflated, with the CRC-32 and length of its plain bytes, and those bytes if kept.
#[derive(Clone)]
pub struct Piece {
    plain: Option<Bytes>,
    deflated: Bytes,
    crc: crc32fast::Hasher,
    length: u64,
}

impl Piece {
    /// Its plain bytes, if kept.
    pub fn plain(&self) -> Option<&Bytes> {
        self.plain.as_ref()
    }

    /// This piece with its plain bytes kept (inflated again if they were not) or not.
    pub fn keeping_plain(mut self, keep: bool) -> Piece {
        if !keep {
            self.plain = None;
        } else if self.plain.is_none() {
            self.plain = Some(Bytes::from(inflate_raw(&self.deflated, self.length)));
        }
        self
    }
}

/// The plain bytes of a raw deflate stream of `length` bytes (a piece's: ours, so whole).
fn inflate_raw(deflated: &[u8], length: u64) -> Vec<u8> {
    let mut inflater = Decompress::new(false);
    let mut plain = Vec::with_capacity(length as usize);
    // Each call consumes input or fills output: bounded by the two lengths.
    while (inflater.total_in() as usize) < deflated.len() && (plain.len() as u64) < length {
        let read = inflater.total_in() as usize;
        let before = (inflater.total_in(), inflater.total_out());
        match inflater.decompress_vec(&deflated[read..], &mut plain, FlushDecompress::Sync) {
            Ok(Status::StreamEnd) | Err(_) => break,
            Ok(_) if (inflater.total_in(), inflater.total_out()) == before => break,
            Ok(_) => {}
        }
    }
    plain
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
    /// `plain` as a piece, keeping the plain bytes if `keep_plain`. A full flush ends it: the
    /// next piece starts with an empty window.
    pub fn piece(&mut self, plain: Vec<u8>, keep_plain: bool) -> Piece {
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
            length: plain.len() as u64,
            plain: keep_plain.then(|| Bytes::from(plain)),
            deflated: Bytes::from(out),
            crc,
        }
    }
}

/// A payload being put together: text and pieces in order, as one gzip member's chunks and,
/// while every piece has kept them, as plain chunks.
pub struct Assembly {
    /// `None` once a piece came without its plain bytes.
    plain: Option<Vec<Bytes>>,
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
            plain: Some(Vec::new()),
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
        if piece.length == 0 {
            return;
        }
        self.crc.combine(&piece.crc);
        self.length += piece.length;
        match (&mut self.plain, &piece.plain) {
            (Some(chunks), Some(plain)) => chunks.push(plain.clone()),
            _ => self.plain = None,
        }
        self.gzip.push(piece.deflated.clone());
    }

    /// The whole: the gzip member's chunks, its plain length, and the plain chunks if every
    /// piece kept its plain bytes.
    pub fn finish(mut self) -> Assembled {
        self.flush_text();
        let mut trailer = Vec::with_capacity(10);
        trailer.extend_from_slice(&FINAL_BLOCK);
        trailer.extend_from_slice(&self.crc.finalize().to_le_bytes());
        // ISIZE is the length modulo 2^32.
        trailer.extend_from_slice(&(self.length as u32).to_le_bytes());
        self.gzip.push(Bytes::from(trailer));
        Assembled {
            gzip: self.gzip,
            length: self.length,
            plain: self.plain,
        }
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
        if let Some(chunks) = &mut self.plain {
            chunks.push(Bytes::from(text));
        }
        self.gzip.push(Bytes::from(stored));
    }
}

/// A finished [`Assembly`].
pub struct Assembled {
    pub gzip: Vec<Bytes>,
    /// Plain bytes in all.
    pub length: u64,
    pub plain: Option<Vec<Bytes>>,
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

impl Frames for ChunkedBody {
    fn next_frame(&mut self) -> Option<Bytes> {
        ChunkedBody::next_frame(self)
    }

    fn remaining(&self) -> u64 {
        self.remaining
    }
}

/// A response body of the plain text of one gzip member (as [`Assembly`] makes them: the fixed
/// ten-byte header, no optional fields), inflated as it is sent, a frame of up to
/// [`FRAME_BYTES`] at a time, with its exact length.
pub struct InflatingBody {
    chunks: VecDeque<Bytes>,
    inflater: Decompress,
    remaining: u64,
}

impl InflatingBody {
    /// The body of `gzip`'s chunks, whose plain text is `length` bytes.
    pub fn new(gzip: &[Bytes], length: u64) -> Self {
        let mut chunks: VecDeque<Bytes> = gzip.iter().filter(|c| !c.is_empty()).cloned().collect();
        let mut header = GZIP_HEADER.len();
        while header > 0 {
            let Some(first) = chunks.front_mut() else { break };
            let skip = header.min(first.len());
            let _ = first.split_to(skip);
            header -= skip;
            if first.is_empty() {
                chunks.pop_front();
            }
        }
        Self {
            chunks,
            inflater: Decompress::new(false),
            remaining: length,
        }
    }

    /// The next frame of plain text; `None` at the end (or if the stream ended short, which
    /// the connection then shows by closing before its `Content-Length`).
    fn next_frame(&mut self) -> Option<Bytes> {
        if self.remaining == 0 {
            return None;
        }
        let mut frame = Vec::with_capacity(FRAME_BYTES.min(self.remaining as usize));
        // Each call consumes input or fills the frame: bounded by their sizes.
        while frame.len() < frame.capacity() {
            let Some(chunk) = self.chunks.front_mut() else { break };
            let before = (self.inflater.total_in(), self.inflater.total_out());
            let status = self
                .inflater
                .decompress_vec(&chunk[..], &mut frame, FlushDecompress::None);
            let read = (self.inflater.total_in() - before.0) as usize;
            let _ = chunk.split_to(read);
            if chunk.is_empty() {
                self.chunks.pop_front();
            }
            match status {
                Ok(Status::StreamEnd) | Err(_) => {
                    self.chunks.clear();
                    break;
                }
                Ok(_) if (self.inflater.total_in(), self.inflater.total_out()) == before => break,
                Ok(_) => {}
            }
        }
        if frame.is_empty() {
            self.remaining = 0;
            return None;
        }
        self.remaining = self.remaining.saturating_sub(frame.len() as u64);
        Some(Bytes::from(frame))
    }
}

/// The plain text of `gzip`'s chunks (an [`Assembly`]'s), `length` bytes, in one buffer.
pub fn inflate_all(gzip: &[Bytes], length: u64) -> Vec<u8> {
    let mut body = InflatingBody::new(gzip, length);
    let mut plain = Vec::with_capacity(length as usize);
    // Every frame is non-empty and shortens what remains.
    while let Some(frame) = body.next_frame() {
        plain.extend_from_slice(&frame);
    }
    plain
}

impl Frames for InflatingBody {
    fn next_frame(&mut self) -> Option<Bytes> {
        InflatingBody::next_frame(self)
    }

    fn remaining(&self) -> u64 {
        self.remaining
    }
}

/// A body sent a frame at a time, with its exact length: what [`FramedBody`] sends.
pub trait Frames: Unpin {
    /// The next frame; `None` at the end.
    fn next_frame(&mut self) -> Option<Bytes>;
    /// Bytes still to send.
    fn remaining(&self) -> u64;
}

/// A [`Frames`] as a response body.
pub struct FramedBody<F>(pub F);

impl<F: Frames> http_body::Body for FramedBody<F> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        Poll::Ready(this.0.next_frame().map(|frame| Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.remaining() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.remaining())
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
            deflater.piece(b"{\"first\":1}".to_vec(), true),
            deflater.piece(big.clone(), true),
            deflater.piece(Vec::new(), true),
            deflater.piece(b"last".to_vec(), true),
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
            expected.extend_from_slice(piece.plain().unwrap());
        }
        assembly.text().extend_from_slice(b"</tail>");
        expected.extend_from_slice(b"</tail>");
        let assembled = assembly.finish();
        assert_eq!(joined(&assembled.plain.unwrap()), expected);
        assert_eq!(assembled.length, expected.len() as u64);
        assert_eq!(inflated(&assembled.gzip, assembled.length), expected);
        let gzip = joined(&assembled.gzip);
        assert_eq!(gunzip(&gzip), expected);
        // The repeated piece is compressed, not stored.
        assert!(gzip.len() < expected.len() / 3, "{} of {}", gzip.len(), expected.len());
    }

    /// What an [`InflatingBody`] sends, frame by frame, checked against its size hints.
    fn inflated(gzip: &[Bytes], length: u64) -> Vec<u8> {
        let mut body = InflatingBody::new(gzip, length);
        let mut sent = Vec::new();
        for _ in 0..100_000 {
            assert_eq!(Some(Frames::remaining(&body)), Some(length - sent.len() as u64));
            match body.next_frame() {
                Some(frame) => {
                    assert!(frame.len() <= FRAME_BYTES);
                    sent.extend_from_slice(&frame);
                }
                None => break,
            }
        }
        assert_eq!(Frames::remaining(&body), 0);
        sent
    }

    #[test]
    fn pieces_without_their_plain_bytes_are_inflated_when_sent_or_kept_again() {
        let mut deflater = Deflater::default();
        let big: Vec<u8> = (0..300_000u32)
            .flat_map(|n| format!("{},", n % 977).into_bytes())
            .collect();
        let piece = deflater.piece(big.clone(), false);
        assert!(piece.plain().is_none());
        let mut assembly = Assembly::default();
        assembly.text().extend_from_slice(b"[");
        assembly.piece(&piece);
        assembly.piece(&deflater.piece(b"kept".to_vec(), true));
        assembly.text().extend_from_slice(b"]");
        let assembled = assembly.finish();
        assert!(
            assembled.plain.is_none(),
            "a piece without plain bytes: no plain chunks"
        );
        let expected = [&b"["[..], &big, b"kept", b"]"].concat();
        assert!(inflated(&assembled.gzip, assembled.length) == expected);
        assert!(gunzip(&joined(&assembled.gzip)) == expected);
        assert_eq!(piece.keeping_plain(true).plain().map(|p| p.to_vec()), Some(big));
    }

    #[test]
    fn an_empty_assembly_is_a_valid_empty_gzip() {
        let assembled = Assembly::default().finish();
        assert!(joined(&assembled.plain.unwrap()).is_empty());
        assert!(gunzip(&joined(&assembled.gzip)).is_empty());
        assert!(inflated(&assembled.gzip, 0).is_empty());
    }

    #[test]
    fn the_body_has_the_chunks_exact_length() {
        let chunks = [Bytes::from_static(b"ab"), Bytes::new(), Bytes::from_static(b"cde")];
        let body = FramedBody(ChunkedBody::new(&chunks));
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(5));
        assert!(!http_body::Body::is_end_stream(&body));
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
        assert_eq!(Some(Frames::remaining(&body)), Some(0));
    }
}
