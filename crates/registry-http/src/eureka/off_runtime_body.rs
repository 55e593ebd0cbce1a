//! [`OffRuntimeBody`]: a response body whose frames are made on the blocking pool, one frame
//! ahead of the one being sent, for bodies that cost CPU to make (the plain text of a gzip'd
//! million-instance registry, inflated as it is sent: some 900 MB per fetch).
//!
//! Made on the runtime, those frames held its two worker threads for as long as a socket took
//! them, and every other task waited behind: at a million instances, sixteen fetchers made the
//! runtime wake 150 ms late dozens of times a minute, and the watch notifications late with it.
//! On the blocking pool they take their share of the cores as threads, and the runtime's tasks
//! theirs.

use std::future::Future;
use std::pin::Pin;
use std::task::ready;
use std::task::Context;
use std::task::Poll;

use axum::body::Bytes;
use http_body::Frame;
use http_body::SizeHint;
use tokio::task::JoinHandle;

use super::pieces::Frames;

/// A [`Frames`] sent with its frames made on the blocking pool.
pub struct OffRuntimeBody<F> {
    /// The frames' maker, while no frame is being made.
    maker: Option<F>,
    /// The frame being made, and the maker after it.
    making: Option<JoinHandle<(F, Option<Bytes>)>>,
    /// Bytes still to send.
    remaining: u64,
}

impl<F: Frames + Send + 'static> OffRuntimeBody<F> {
    pub fn new(maker: F) -> Self {
        Self {
            remaining: maker.remaining(),
            maker: Some(maker),
            making: None,
        }
    }

    /// Starts making the next frame, if there is one.
    fn make_next(&mut self) {
        if let Some(mut maker) = self.maker.take() {
            if maker.remaining() == 0 {
                self.maker = Some(maker);
                return;
            }
            self.making = Some(tokio::task::spawn_blocking(move || {
                let frame = maker.next_frame();
                (maker, frame)
            }));
        }
    }
}

impl<F: Frames + Send + 'static> http_body::Body for OffRuntimeBody<F> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.making.is_none() {
            this.make_next();
        }
        let Some(making) = this.making.as_mut() else {
            this.remaining = 0;
            return Poll::Ready(None);
        };
        let made = ready!(Pin::new(making).poll(cx));
        this.making = None;
        match made {
            Ok((maker, Some(frame))) => {
                this.maker = Some(maker);
                this.remaining = this.remaining.saturating_sub(frame.len() as u64);
                // The next frame is made while this one is sent.
                this.make_next();
                Poll::Ready(Some(Ok(Frame::data(frame))))
            }
            // The end, or a maker that panicked: the connection shows a body cut short by
            // closing before its `Content-Length`.
            Ok((_, None)) | Err(_) => {
                this.remaining = 0;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

impl<F> Drop for OffRuntimeBody<F> {
    /// A client gone mid-body: the frame being made is not waited for.
    fn drop(&mut self) {
        if let Some(making) = self.making.take() {
            making.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::sync::Arc;
    use std::sync::Mutex;
    use std::thread::ThreadId;

    use http_body::Body;

    use super::*;

    /// Counts down frames of `frame` bytes, noting the thread each is made on.
    struct Counted {
        frames: Vec<Bytes>,
        threads: Arc<Mutex<Vec<ThreadId>>>,
    }

    impl Frames for Counted {
        fn next_frame(&mut self) -> Option<Bytes> {
            self.threads.lock().unwrap().push(std::thread::current().id());
            (!self.frames.is_empty()).then(|| self.frames.remove(0))
        }

        fn remaining(&self) -> u64 {
            self.frames.iter().map(|f| f.len() as u64).sum()
        }
    }

    /// What `body` sends, and its exact length still to send: before each frame and at the end.
    async fn collect<B: Body<Data = Bytes> + Unpin>(mut body: B) -> (Vec<u8>, Vec<Option<u64>>) {
        let mut sent = Vec::new();
        let mut hints = vec![body.size_hint().exact()];
        for _ in 0..1_000 {
            match poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                Some(Ok(frame)) => sent.extend_from_slice(frame.data_ref().unwrap()),
                Some(Err(_)) => panic!("an error frame"),
                None => break,
            }
            hints.push(body.size_hint().exact());
        }
        assert!(body.is_end_stream());
        hints.push(body.size_hint().exact());
        (sent, hints)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn frames_are_made_off_the_runtime_thread_and_sent_in_order_with_their_lengths() {
        let threads = Arc::new(Mutex::new(Vec::new()));
        let frames: Vec<Bytes> = (0..5u8).map(|n| Bytes::from(vec![b'a' + n; 10 + n as usize])).collect();
        let expected: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        let body = OffRuntimeBody::new(Counted {
            frames,
            threads: threads.clone(),
        });
        let (sent, hints) = collect(body).await;
        assert_eq!(sent, expected);
        assert_eq!(
            hints,
            vec![Some(60), Some(50), Some(39), Some(27), Some(14), Some(0), Some(0)],
            "the exact length still to send, after each frame"
        );
        let runtime_thread = std::thread::current().id();
        let threads = threads.lock().unwrap();
        assert!(threads.len() >= 5, "{threads:?}");
        assert!(
            threads.iter().all(|t| *t != runtime_thread),
            "made on the runtime's thread"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_empty_body_ends_at_once() {
        let threads = Arc::new(Mutex::new(Vec::new()));
        let body = OffRuntimeBody::new(Counted {
            frames: Vec::new(),
            threads: threads.clone(),
        });
        assert!(body.is_end_stream());
        assert_eq!(collect(body).await, (Vec::new(), vec![Some(0), Some(0)]));
        assert!(threads.lock().unwrap().is_empty(), "nothing to make");
    }

    /// A maker that ends before the length it announced: the body ends there.
    #[tokio::test(flavor = "current_thread")]
    async fn a_body_cut_short_ends_where_its_maker_stops() {
        struct Short(u8);
        impl Frames for Short {
            fn next_frame(&mut self) -> Option<Bytes> {
                self.0 = self.0.checked_sub(1)?;
                Some(Bytes::from_static(b"xy"))
            }
            fn remaining(&self) -> u64 {
                100
            }
        }
        let (sent, hints) = collect(OffRuntimeBody::new(Short(2))).await;
        assert_eq!(sent, b"xyxy");
        assert_eq!(hints.last(), Some(&Some(0)));
    }
}
