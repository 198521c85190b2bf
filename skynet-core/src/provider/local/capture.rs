//! Output capture: pipe bytes become lines on the step's output channel,
//! under a byte cap.
//!
//! Shared by the providers: the mock uses [`OutputSink`] too, so the cap and
//! its marker behave the same everywhere.

use crate::provider::{OutputLine, Stream};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc::{self, error::TrySendError};

/// Longest line forwarded whole. A longer run without a newline is split,
/// so one endless line cannot grow memory without bound.
pub(crate) const MAX_LINE_BYTES: usize = 64 * 1024;
/// How much room to offer each pipe read.
const READ_CHUNK: usize = 8 * 1024;
/// How long the final marker line may wait for room in the channel.
const MARKER_SEND_LIMIT: Duration = Duration::from_secs(1);

/// A line found in a [`LineBuffer`]: where its text is and how many raw
/// bytes (newline included) it used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line {
    start: usize,
    end: usize,
    raw_len: usize,
}

/// Bytes read from one pipe that have not been forwarded yet.
#[derive(Debug)]
pub(crate) struct LineBuffer {
    stream: Stream,
    buf: Vec<u8>,
    /// First byte not yet forwarded.
    start: usize,
    /// `buf[start..scanned]` is known to hold no newline.
    scanned: usize,
}

impl LineBuffer {
    /// An empty buffer for `stream`.
    pub(crate) fn new(stream: Stream) -> LineBuffer {
        LineBuffer {
            stream,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
        }
    }

    /// The vector to read into next: forwarded bytes are dropped and room
    /// for a chunk is made.
    pub(crate) fn read_target(&mut self) -> &mut Vec<u8> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK {
            self.buf.reserve(READ_CHUNK);
        }
        &mut self.buf
    }

    /// The next complete line; at end of input also the unterminated rest.
    fn next_line(&mut self, at_eof: bool) -> Option<Line> {
        let pending = &self.buf[self.scanned..];
        if let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let end = self.scanned + i;
            return Some(Line {
                start: self.start,
                end,
                raw_len: end + 1 - self.start,
            });
        }
        self.scanned = self.buf.len();
        let unterminated = self.buf.len() - self.start;
        if unterminated >= MAX_LINE_BYTES || (at_eof && unterminated > 0) {
            let len = unterminated.min(MAX_LINE_BYTES);
            return Some(Line {
                start: self.start,
                end: self.start + len,
                raw_len: len,
            });
        }
        None
    }

    fn text(&self, line: Line) -> &[u8] {
        &self.buf[line.start..line.end]
    }

    fn consume(&mut self, line: Line) {
        self.start += line.raw_len;
        self.scanned = self.scanned.max(self.start);
    }

    fn discard(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
    }
}

/// Forward every complete line in `buf` (and, at end of input, the
/// unterminated rest). Returns `Some` if `interrupt` fired while waiting
/// for room in the channel; the line being sent then stays in `buf`.
pub(crate) async fn forward_lines<F: Future>(
    buf: &mut LineBuffer,
    sink: &mut OutputSink,
    at_eof: bool,
    mut interrupt: Pin<&mut F>,
) -> Option<F::Output> {
    loop {
        if sink.discarding() {
            buf.discard();
            return None;
        }
        let line = buf.next_line(at_eof)?;
        let stream = buf.stream;
        if let Some(v) = sink
            .forward(stream, buf.text(line), line.raw_len, interrupt.as_mut())
            .await
        {
            return Some(v);
        }
        buf.consume(line);
    }
}

/// The step's output channel plus the byte accounting behind the cap.
#[derive(Debug)]
pub(crate) struct OutputSink {
    tx: mpsc::Sender<OutputLine>,
    cap: u64,
    produced: u64,
    forwarded: u64,
    capped: bool,
    receiver_gone: bool,
}

impl OutputSink {
    /// Forward to `tx`, at most `cap` bytes.
    pub(crate) fn new(tx: mpsc::Sender<OutputLine>, cap: u64) -> OutputSink {
        OutputSink {
            tx,
            cap,
            produced: 0,
            forwarded: 0,
            capped: false,
            receiver_gone: false,
        }
    }

    /// Count `n` bytes the command produced (forwarded or not).
    pub(crate) fn produced(&mut self, n: usize) {
        self.produced += n as u64;
    }

    /// Nothing more will be forwarded: the cap is reached or nobody listens.
    pub(crate) fn discarding(&self) -> bool {
        self.capped || self.receiver_gone
    }

    /// Forward one line whose raw form (newline included) is `raw_len`
    /// bytes, cutting it at the cap. The bytes must already be counted with
    /// [`OutputSink::produced`]. Returns `Some` if `interrupt` fired first;
    /// nothing is counted as forwarded then.
    pub(crate) async fn forward<F: Future>(
        &mut self,
        stream: Stream,
        text: &[u8],
        raw_len: usize,
        interrupt: Pin<&mut F>,
    ) -> Option<F::Output> {
        if self.discarding() {
            return None;
        }
        let room = self.cap - self.forwarded;
        let fits = raw_len as u64 <= room;
        let take = if fits {
            text.len()
        } else {
            // `room < raw_len`, so it fits in usize.
            text.len().min(room as usize)
        };
        if take > 0 || fits {
            let line = OutputLine {
                stream,
                text: String::from_utf8_lossy(&text[..take]).into_owned(),
            };
            if let Some(v) = self.deliver(line, interrupt).await {
                return Some(v);
            }
            self.forwarded += if fits { raw_len } else { take } as u64;
        }
        if !fits {
            self.capped = true;
        }
        None
    }

    /// Forward a line that is already text (no newline inside), without
    /// copying it when it fits. Counts it as produced, newline included.
    /// Returns `Some` if `interrupt` fired first.
    pub(crate) async fn forward_text<F: Future>(
        &mut self,
        stream: Stream,
        mut text: String,
        interrupt: Pin<&mut F>,
    ) -> Option<F::Output> {
        let raw_len = text.len() + 1;
        self.produced(raw_len);
        if self.discarding() {
            return None;
        }
        let room = self.cap - self.forwarded;
        if raw_len as u64 <= room {
            let interrupted = self.deliver(OutputLine { stream, text }, interrupt).await;
            if interrupted.is_none() {
                self.forwarded += raw_len as u64;
            }
            return interrupted;
        }
        // Cut at the cap, on a character boundary.
        let mut take = room as usize;
        while !text.is_char_boundary(take) {
            take -= 1;
        }
        text.truncate(take);
        self.forward(stream, text.as_bytes(), raw_len, interrupt)
            .await
    }

    async fn deliver<F: Future>(
        &mut self,
        line: OutputLine,
        interrupt: Pin<&mut F>,
    ) -> Option<F::Output> {
        match self.tx.try_send(line) {
            Ok(()) => None,
            Err(TrySendError::Closed(_)) => {
                self.receiver_gone = true;
                None
            }
            Err(TrySendError::Full(line)) => {
                tokio::select! {
                    biased;
                    sent = self.tx.send(line) => {
                        self.receiver_gone = sent.is_err();
                        None
                    }
                    v = interrupt => Some(v),
                }
            }
        }
    }

    /// Send the truncation marker if anything was dropped; returns
    /// `(bytes produced, truncated)`.
    pub(crate) async fn finish(self) -> (u64, bool) {
        let dropped = self.produced - self.forwarded;
        let truncated = self.capped || (dropped > 0 && !self.receiver_gone);
        if truncated && !self.receiver_gone {
            let text = if self.capped {
                format!(
                    "[output truncated after {} bytes; {dropped} more bytes dropped]",
                    self.cap
                )
            } else {
                format!(
                    "[{dropped} bytes of output dropped: the step was stopped while output was pending]"
                )
            };
            let marker = OutputLine {
                stream: Stream::System,
                text,
            };
            if let Err(TrySendError::Full(marker)) = self.tx.try_send(marker) {
                let _ = tokio::time::timeout(MARKER_SEND_LIMIT, self.tx.send(marker)).await;
            }
        }
        (self.produced, truncated)
    }
}

/// Output that arrives as chunks tagged by stream (a container's attach
/// stream, an SSH channel) instead of two pipes: split into lines per
/// stream and forwarded under the cap, exactly like a local step's.
#[derive(Debug)]
pub(crate) struct ChunkLines {
    out: LineBuffer,
    err: LineBuffer,
    sink: OutputSink,
}

impl ChunkLines {
    /// Lines go to `sink`.
    pub(crate) fn new(sink: OutputSink) -> ChunkLines {
        ChunkLines {
            out: LineBuffer::new(Stream::Stdout),
            err: LineBuffer::new(Stream::Stderr),
            sink,
        }
    }

    /// Take `bytes` of `stream` (anything but stderr counts as stdout) and
    /// forward the complete lines. Returns `Some` if `interrupt` fired while
    /// waiting for room; the unsent lines stay buffered for [`Self::finish`].
    pub(crate) async fn push<F: Future>(
        &mut self,
        stream: Stream,
        bytes: &[u8],
        interrupt: Pin<&mut F>,
    ) -> Option<F::Output> {
        self.sink.produced(bytes.len());
        let buf = match stream {
            Stream::Stderr => &mut self.err,
            _ => &mut self.out,
        };
        if self.sink.discarding() {
            buf.discard();
            return None;
        }
        buf.read_target().extend_from_slice(bytes);
        forward_lines(buf, &mut self.sink, false, interrupt).await
    }

    /// Forward a line SKYNET itself writes (counted like output).
    pub(crate) async fn note<F: Future>(
        &mut self,
        stream: Stream,
        text: String,
        interrupt: Pin<&mut F>,
    ) -> Option<F::Output> {
        self.sink.forward_text(stream, text, interrupt).await
    }

    /// Flush the unterminated tails (waiting at most `limit` for room),
    /// send the truncation marker if needed; returns `(bytes produced,
    /// truncated)`.
    pub(crate) async fn finish(mut self, limit: Duration) -> (u64, bool) {
        let limit = tokio::time::sleep(limit);
        tokio::pin!(limit);
        for buf in [&mut self.out, &mut self.err] {
            if forward_lines(buf, &mut self.sink, true, limit.as_mut())
                .await
                .is_some()
            {
                break;
            }
        }
        self.sink.finish().await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::future::pending;

    fn lines_of(chunks: &[&[u8]], cap: u64) -> (Vec<OutputLine>, u64, bool) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel(10_000);
            let mut sink = OutputSink::new(tx, cap);
            let mut buf = LineBuffer::new(Stream::Stdout);
            let never = pending::<()>();
            tokio::pin!(never);
            for chunk in chunks {
                buf.read_target().extend_from_slice(chunk);
                sink.produced(chunk.len());
                assert!(
                    forward_lines(&mut buf, &mut sink, false, never.as_mut())
                        .await
                        .is_none()
                );
            }
            forward_lines(&mut buf, &mut sink, true, never.as_mut()).await;
            let (bytes, truncated) = sink.finish().await;
            let mut out = Vec::new();
            while let Ok(l) = rx.try_recv() {
                out.push(l);
            }
            (out, bytes, truncated)
        })
    }

    fn texts(lines: &[OutputLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn splits_on_newlines_across_chunks_and_keeps_the_unterminated_tail() {
        let (lines, bytes, truncated) = lines_of(&[b"a\nb", b"c\n\nd"], 1 << 20);
        assert_eq!(texts(&lines), ["a", "bc", "", "d"]);
        assert_eq!(bytes, 7);
        assert!(!truncated);
    }

    #[test]
    fn endless_line_is_split_at_the_line_limit() {
        let big = vec![b'x'; MAX_LINE_BYTES * 2 + 10];
        let (lines, _, _) = lines_of(&[&big], u64::MAX);
        let lens: Vec<usize> = lines.iter().map(|l| l.text.len()).collect();
        assert_eq!(lens, [MAX_LINE_BYTES, MAX_LINE_BYTES, 10]);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let (lines, _, _) = lines_of(&[b"\xff\xfeabc\n"], 100);
        assert_eq!(texts(&lines), ["\u{fffd}\u{fffd}abc"]);
    }

    #[test]
    fn cap_cuts_output_and_reports_dropped_bytes_once() {
        // 4 lines of 4 raw bytes; cap 10 → two whole lines and "xx" of the third.
        let (lines, bytes, truncated) = lines_of(&[b"aaa\nbbb\nccc\nddd\n"], 10);
        assert_eq!(bytes, 16);
        assert!(truncated);
        assert_eq!(
            texts(&lines),
            [
                "aaa",
                "bbb",
                "cc",
                "[output truncated after 10 bytes; 6 more bytes dropped]"
            ]
        );
        assert_eq!(lines[3].stream, Stream::System);
    }

    #[test]
    fn output_exactly_at_the_cap_is_not_truncated() {
        let (lines, _, truncated) = lines_of(&[b"aaa\nbbb\n"], 8);
        assert_eq!(texts(&lines), ["aaa", "bbb"]);
        assert!(!truncated);
    }

    #[tokio::test]
    async fn text_lines_are_cut_at_a_character_boundary() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut sink = OutputSink::new(tx, 7);
        let never = pending::<()>();
        tokio::pin!(never);
        sink.forward_text(Stream::Stdout, "ab".into(), never.as_mut())
            .await;
        // 4 bytes of room left: "é" is 2 bytes, "éé" 4, but the third "é" would split.
        sink.forward_text(Stream::Stdout, "ééé".into(), never.as_mut())
            .await;
        assert!(sink.discarding());
        let (bytes, truncated) = sink.finish().await;
        assert_eq!((bytes, truncated), (3 + 7, true));
        let got: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|l| l.text)
            .collect();
        assert_eq!(
            got,
            [
                "ab",
                "éé",
                "[output truncated after 7 bytes; 3 more bytes dropped]"
            ]
        );
    }

    #[tokio::test]
    async fn chunk_lines_split_per_stream_and_keep_the_tails() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut lines = ChunkLines::new(OutputSink::new(tx, 1 << 20));
        let never = pending::<()>();
        tokio::pin!(never);
        for (stream, bytes) in [
            (Stream::Stdout, &b"a\nb"[..]),
            (Stream::Stderr, b"e1"),
            (Stream::Stdout, b"c\n"),
            (Stream::Stderr, b"\ne2"),
        ] {
            assert!(lines.push(stream, bytes, never.as_mut()).await.is_none());
        }
        let (bytes, truncated) = lines.finish(Duration::from_secs(1)).await;
        assert_eq!((bytes, truncated), (10, false));
        let got: Vec<(Stream, String)> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|l| (l.stream, l.text))
            .collect();
        assert_eq!(
            got,
            [
                (Stream::Stdout, "a".to_string()),
                (Stream::Stdout, "bc".to_string()),
                (Stream::Stderr, "e1".to_string()),
                (Stream::Stderr, "e2".to_string()),
            ]
        );
    }
}
