//! The [`Transform`] trait shared by sealing and opening, and the adapters that drive one from
//! `std::io::Read`, `std::io::Write` or a `futures` byte stream.
//!
//! The cores ([`Sealer`](crate::Sealer), [`Opener`](crate::Opener),
//! [`RangeOpener`](crate::RangeOpener)) are sans-IO: they take bytes and hand back bytes, holding
//! at most one segment between calls. The adapters only move bytes, so all format rules live in
//! the cores and are tested there once.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use futures::stream::StreamExt as _;

use crate::error::Error;

/// How many input bytes an adapter hands to its transform at a time. A multiple of the 64 KiB
/// segment keeps the fast paths (whole segments straight from the input) busy.
const CHUNK: usize = 256 * 1024;

/// A streaming byte transformation: a sealer (plaintext in, ciphertext out) or an opener
/// (ciphertext in, verified plaintext out).
///
/// Input may be split anywhere: the output does not depend on how the input was chunked.
/// After an error or after [`Transform::finish`] every further call fails.
pub trait Transform {
    /// Feeds `input`; appends to `out` whatever output is complete.
    ///
    /// An opener appends only plaintext of segments whose tag verified; on error it appends
    /// nothing from the failing segment.
    ///
    /// # Errors
    /// Any [`Error`] the format rules demand.
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error>;

    /// Declares the end of the input and appends the rest of the output.
    ///
    /// For an opener, only `Ok` here means the whole object verified (final segment included,
    /// nothing after it). Output appended by earlier `push` calls is authentic but may be a
    /// prefix of a truncated object until then.
    ///
    /// # Errors
    /// Any [`Error`] the format rules demand, typically [`Error::Truncated`].
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error>;

    /// Wraps a reader of input into a reader of output.
    fn reader<R: Read>(self, inner: R) -> TransformReader<Self, R>
    where
        Self: Sized,
    {
        TransformReader::new(self, inner)
    }

    /// Wraps a writer of output into a writer of input; call
    /// [`TransformWriter::finish`] at the end.
    fn writer<W: Write>(self, inner: W) -> TransformWriter<Self, W>
    where
        Self: Sized,
    {
        TransformWriter::new(self, inner)
    }

    /// Wraps a stream of input chunks (such as the engine's `ByteStream`) into a stream of
    /// output chunks.
    fn stream<S>(self, inner: S) -> TransformStream<Self, S>
    where
        Self: Sized,
        S: Stream<Item = io::Result<Bytes>> + Unpin,
    {
        TransformStream::new(self, inner)
    }
}

/// A [`Read`] of a transform's output, pulling input from another reader.
///
/// Memory: a 256 KiB input buffer, its output and one pending segment. Format errors come out as
/// `io::Error`s wrapping an [`Error`] (see [`Error::from_io`]); once one occurred, every later
/// read returns it again.
#[derive(Debug)]
pub struct TransformReader<T, R> {
    transform: T,
    inner: R,
    input: Vec<u8>,
    output: Vec<u8>,
    pos: usize,
    eof: bool,
    failed: Option<Error>,
}

impl<T: Transform, R: Read> TransformReader<T, R> {
    /// Wraps `inner`.
    pub fn new(transform: T, inner: R) -> TransformReader<T, R> {
        TransformReader {
            transform,
            inner,
            input: vec![0; CHUNK],
            output: Vec::new(),
            pos: 0,
            eof: false,
            failed: None,
        }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn refill(&mut self) -> io::Result<()> {
        self.output.clear();
        self.pos = 0;
        let n = loop {
            match self.inner.read(&mut self.input) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        // EOF is a read of 0 bytes, never a short read: short reads happen mid-stream.
        let result = if n == 0 {
            self.eof = true;
            self.transform.finish(&mut self.output)
        } else {
            self.transform.push(&self.input[..n], &mut self.output)
        };
        result.map_err(|err| {
            self.output.clear();
            self.failed = Some(err.clone());
            err.into()
        })
    }
}

impl<T: Transform, R: Read> Read for TransformReader<T, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pos < self.output.len() {
                let n = buf.len().min(self.output.len() - self.pos);
                buf[..n].copy_from_slice(&self.output[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if let Some(err) = &self.failed {
                return Err(err.clone().into());
            }
            if self.eof {
                return Ok(0);
            }
            self.refill()?;
        }
    }
}

/// A [`Write`] of a transform's input, writing its output to another writer.
///
/// Dropping it without [`TransformWriter::finish`] leaves the output incomplete: a sealed object
/// without its final segment (which every reader rejects as truncated), or, for an opener,
/// plaintext that must not be trusted as a whole.
#[derive(Debug)]
pub struct TransformWriter<T, W> {
    transform: T,
    inner: W,
    output: Vec<u8>,
    failed: Option<Error>,
}

impl<T: Transform, W: Write> TransformWriter<T, W> {
    /// Wraps `inner`.
    pub fn new(transform: T, inner: W) -> TransformWriter<T, W> {
        TransformWriter {
            transform,
            inner,
            output: Vec::new(),
            failed: None,
        }
    }

    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Ends the input, writes the rest of the output, flushes and returns the inner writer.
    ///
    /// # Errors
    /// The transform's [`Error`] (wrapped in `io::Error`), or the inner writer's error.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some(err) = self.failed {
            return Err(err.into());
        }
        self.output.clear();
        self.transform.finish(&mut self.output)?;
        self.inner.write_all(&self.output)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<T: Transform, W: Write> Write for TransformWriter<T, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(err) = &self.failed {
            return Err(err.clone().into());
        }
        // Bounded steps, so a caller's 1 GiB buffer does not become a 1 GiB output buffer.
        for chunk in buf.chunks(CHUNK) {
            self.output.clear();
            if let Err(err) = self.transform.push(chunk, &mut self.output) {
                self.failed = Some(err.clone());
                return Err(err.into());
            }
            self.inner.write_all(&self.output)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A stream of a transform's output chunks over a stream of input chunks.
///
/// Each input chunk yields at most one output chunk (empty ones are skipped), so memory is about
/// one input chunk plus one segment. A format error is yielded once as an `io::Error` wrapping an
/// [`Error`], and then the stream ends; an input error is passed through and ends it too. An
/// opener's stream has verified the whole object only when it ends without an error.
#[derive(Debug)]
pub struct TransformStream<T, S> {
    transform: T,
    inner: S,
    done: bool,
}

impl<T, S> TransformStream<T, S> {
    /// Wraps `inner`.
    pub fn new(transform: T, inner: S) -> TransformStream<T, S> {
        TransformStream {
            transform,
            inner,
            done: false,
        }
    }
}

impl<T, S> Stream for TransformStream<T, S>
where
    T: Transform + Unpin,
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        while !this.done {
            let next = match this.inner.poll_next_unpin(cx) {
                Poll::Ready(next) => next,
                Poll::Pending => return Poll::Pending,
            };
            let mut out = Vec::new();
            let result = match next {
                Some(Ok(chunk)) => {
                    out.reserve(chunk.len() + chunk.len() / 4096 + 128);
                    this.transform.push(&chunk, &mut out)
                }
                Some(Err(err)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(err)));
                }
                None => {
                    this.done = true;
                    this.transform.finish(&mut out)
                }
            };
            if let Err(err) = result {
                this.done = true;
                return Poll::Ready(Some(Err(err.into())));
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Bytes::from(out))));
            }
        }
        Poll::Ready(None)
    }
}
