//! The Verifier's messages, `VerifyStream`'s and `Verify`'s alike, read by the service itself
//! within the in-flight budget (`max_inflight_bytes`). tonic would receive each message whole
//! into a decode buffer outside any budget (for a stream, kept at the size of its largest
//! message for as long as it is open). Here each message's share of the budget is taken as soon
//! as its 5-byte header says how long it is, before its body is read from the transport; a
//! message the whole budget could never hold is refused. The message is read into a mapping of
//! its own, which the frame keeps until it is answered and which goes back to the system when
//! the frame does: the allocator would keep a freed frame-sized block for later, memory the
//! process holds and the budget does not count. Outside the budget an open call so holds at
//! most HTTP/2's receive window of what it has not read.

use crate::proto::VerifyRequest;
use bytes::{Buf, Bytes};
use http_body::Body as _;
use prost::Message;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

/// The methods whose messages are read here; the others go through tonic as they come.
const VERIFY_STREAM: &str = "/verigrade.v1.Verifier/VerifyStream";
const VERIFY: &str = "/verigrade.v1.Verifier/Verify";

/// A gRPC message's header: a compression flag and a big-endian length.
const HEADER_BYTES: usize = 5;

/// An empty `VerifyRequest` as gRPC frames it: what tonic decodes for a `Verify` call whose
/// message is read here.
const EMPTY_MESSAGE: [u8; HEADER_BYTES] = [0; HEADER_BYTES];

/// A frame's share of `max_inflight_bytes`, held until it is answered.
pub type Share = OwnedSemaphorePermit;

/// Where shares come from and how large they are.
#[derive(Clone)]
pub struct Budget {
    pub semaphore: Arc<Semaphore>,
    /// The whole budget: a longer message could never get its share and is refused.
    pub whole: u32,
    /// The largest message accepted; a longer one is refused OUT_OF_RANGE, unread.
    pub max_message: usize,
}

/// What a call's reader has next. Made once per message and matched at once, so the large
/// variant is not boxed.
#[allow(clippy::large_enum_variant)]
pub enum Next {
    Message(VerifyRequest, Share),
    /// The client ended its messages.
    End,
    /// The transport or the budget refused a message; nothing more is read.
    Refused(Status),
    /// No message began to arrive for the idle timeout.
    Idle,
}

/// A call's messages, each with its share, as they are read.
pub struct Inbound {
    messages: mpsc::Receiver<Result<(VerifyRequest, Share), Status>>,
    waiting: Arc<AtomicBool>,
}

impl Inbound {
    /// The next message, or `Next::Idle` when none has begun to arrive for `idle` (never when
    /// it is zero). One that waits for its share has begun: its sender is not idle.
    pub async fn next(&mut self, idle: Duration) -> Next {
        loop {
            tokio::select! {
                message = self.messages.recv() => return match message {
                    None => Next::End,
                    Some(Ok((request, share))) => Next::Message(request, share),
                    Some(Err(status)) => Next::Refused(status),
                },
                _ = tokio::time::sleep(idle), if !idle.is_zero() => {
                    if !self.waiting.load(Ordering::Relaxed) {
                        return Next::Idle;
                    }
                }
            }
        }
    }
}

/// Carries a call's [`Inbound`] to its handler in the request's extensions.
#[derive(Clone)]
pub struct InboundSlot(Arc<Mutex<Option<Inbound>>>);

impl InboundSlot {
    /// The request's reader of its messages, taken once.
    pub fn take<T>(request: &tonic::Request<T>) -> Result<Inbound, Status> {
        request
            .extensions()
            .get::<InboundSlot>()
            .and_then(|slot| slot.0.lock().unwrap_or_else(|e| e.into_inner()).take())
            .ok_or_else(|| Status::internal("the call has no reader of its messages"))
    }
}

/// The Verifier service, with `VerifyStream`'s and `Verify`'s request bodies read by
/// [`read_messages`].
#[derive(Clone)]
pub struct Budgeted<S> {
    pub inner: S,
    pub budget: Budget,
}

impl<S: NamedService> NamedService for Budgeted<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Budgeted<S>
where
    S: Service<http::Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The handler reads its messages from the Inbound; what tonic decodes is empty.
        let placeholder = match request.uri().path() {
            VERIFY_STREAM => Body::empty(),
            VERIFY => Body::new(http_body_util::Full::new(Bytes::from_static(
                &EMPTY_MESSAGE,
            ))),
            _ => return self.inner.call(request),
        };
        let (mut parts, body) = request.into_parts();
        let (inbound, reading) = read_messages(body, self.budget.clone());
        tokio::spawn(reading);
        parts
            .extensions
            .insert(InboundSlot(Arc::new(Mutex::new(Some(inbound)))));
        self.inner
            .call(http::Request::from_parts(parts, placeholder))
    }
}

/// The messages of `body`, and the task that reads them: each message's share first, then
/// the message, then (once the handler has taken the one before) the next. It stops at the
/// end of the body, at the first error (sent as the last item) or when the handler is gone.
fn read_messages(
    body: Body,
    budget: Budget,
) -> (Inbound, impl std::future::Future<Output = ()> + Send) {
    let (sender, messages) = mpsc::channel(1);
    let waiting = Arc::new(AtomicBool::new(false));
    let inbound = Inbound {
        messages,
        waiting: waiting.clone(),
    };
    let reading = async move {
        let mut reader = BodyReader {
            body,
            held: Bytes::new(),
        };
        loop {
            let read = tokio::select! {
                _ = sender.closed() => return,
                read = next_message(&mut reader, &budget, &waiting) => read,
            };
            let Some(read) = read.transpose() else { return };
            let failed = read.is_err();
            if sender.send(read).await.is_err() || failed {
                return;
            }
        }
    };
    (inbound, reading)
}

/// Reads one message: its header, its share, its body; `None` at the end of the stream.
async fn next_message(
    reader: &mut BodyReader,
    budget: &Budget,
    waiting: &AtomicBool,
) -> Result<Option<(VerifyRequest, Share)>, Status> {
    let mut header = [0; HEADER_BYTES];
    match reader.read_exact(&mut header).await? {
        0 => return Ok(None),
        HEADER_BYTES => {}
        _ => return Err(Status::internal("the stream ended inside a message header")),
    }
    if header[0] != 0 {
        return Err(Status::unimplemented(
            "compressed messages are not accepted",
        ));
    }
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let bytes = length as usize;
    if bytes > budget.max_message {
        return Err(Status::out_of_range(format!(
            "a message of {bytes} bytes, over the limit of {} bytes",
            budget.max_message
        )));
    }
    if length > budget.whole {
        return Err(Status::resource_exhausted(format!(
            "a message of {bytes} bytes can never fit in max_inflight_bytes ({} bytes)",
            budget.whole
        )));
    }
    waiting.store(true, Ordering::Relaxed);
    let share = budget
        .semaphore
        .clone()
        .acquire_many_owned(length.max(1))
        .await
        .map_err(|_| Status::unavailable("the server is shutting down"))?;
    waiting.store(false, Ordering::Relaxed);
    let mut message = mapping(bytes)?;
    let body = match message.mapping.as_mut() {
        Some(m) => &mut m[..bytes],
        None => &mut [],
    };
    if reader.read_exact(body).await? < bytes {
        return Err(Status::internal("the stream ended inside a message"));
    }
    let request = VerifyRequest::decode(Bytes::from_owner(message))
        .map_err(|e| Status::internal(format!("the message does not decode: {e}")))?;
    Ok(Some((request, share)))
}

/// Message mappings kept for reuse once their frame is answered, at most this many and this
/// many bytes together: a fresh mapping costs a page fault per 4 KiB page on every frame (a
/// 1280x1024 frame, 320 of them, half a millisecond of a core), while frames of a line's size
/// come back to a pool this small. A larger frame (over a few megapixels) is never kept.
const POOL_MAPPINGS: usize = 8;
const POOL_BYTES: usize = 16 << 20;

/// Answered frames' mappings, ready for the next messages.
static POOL: Mutex<Vec<memmap2::MmapMut>> = Mutex::new(Vec::new());

/// A message's bytes in a mapping of its own; the mapping goes back to [`POOL`] (or to the
/// system when the pool is full) when the frame is answered, whatever the allocator would keep.
struct MessageBuffer {
    mapping: Option<memmap2::MmapMut>,
    len: usize,
}

impl AsRef<[u8]> for MessageBuffer {
    fn as_ref(&self) -> &[u8] {
        self.mapping.as_ref().map_or(&[], |m| &m[..self.len])
    }
}

impl Drop for MessageBuffer {
    fn drop(&mut self) {
        let Some(mapping) = self.mapping.take() else {
            return;
        };
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let held: usize = pool.iter().map(|m| m.len()).sum();
        if pool.len() < POOL_MAPPINGS && held + mapping.len() <= POOL_BYTES {
            pool.push(mapping);
        }
    }
}

/// Memory for a message of `bytes` bytes: a pooled mapping it fits in without wasting more
/// than its own size, else a new one.
fn mapping(bytes: usize) -> Result<MessageBuffer, Status> {
    let pooled = {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        pool.iter()
            .enumerate()
            .filter(|(_, m)| m.len() >= bytes && m.len() <= 2 * bytes.max(1))
            .min_by_key(|(_, m)| m.len())
            .map(|(i, _)| i)
            .map(|i| pool.swap_remove(i))
    };
    let mapping = match pooled {
        Some(mapping) => mapping,
        None => {
            let mapping = memmap2::MmapMut::map_anon(bytes.max(1)).map_err(|e| {
                Status::resource_exhausted(format!("no memory for a message of {bytes} bytes: {e}"))
            })?;
            // Huge pages where the system grants them: a 25 MB frame then costs a dozen
            // page faults, not six thousand (about 15 ms of a core). Only a hint.
            #[cfg(target_os = "linux")]
            let _ = mapping.advise(memmap2::Advice::HugePage);
            mapping
        }
    };
    Ok(MessageBuffer {
        mapping: Some(mapping),
        len: bytes,
    })
}

/// A request body read a given number of bytes at a time.
struct BodyReader {
    body: Body,
    /// Read from the transport, not yet taken.
    held: Bytes,
}

impl BodyReader {
    /// Fills `out`; how many bytes it got, fewer when the body ended first.
    async fn read_exact(&mut self, out: &mut [u8]) -> Result<usize, Status> {
        let mut filled = 0;
        while filled < out.len() {
            if self.held.is_empty() {
                let frame =
                    std::future::poll_fn(|cx| Pin::new(&mut self.body).poll_frame_data(cx)).await;
                match frame {
                    None => break,
                    Some(data) => self.held = data?,
                }
                continue;
            }
            let n = (out.len() - filled).min(self.held.len());
            out[filled..filled + n].copy_from_slice(&self.held[..n]);
            self.held.advance(n);
            filled += n;
        }
        Ok(filled)
    }
}

/// The body's next data, skipping trailers.
trait PollData {
    fn poll_frame_data(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Status>>>;
}

impl PollData for Body {
    fn poll_frame_data(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Status>>> {
        loop {
            match std::task::ready!(self.as_mut().poll_frame(cx)) {
                None => return Poll::Ready(None),
                Some(Err(status)) => return Poll::Ready(Some(Err(status))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Frame;
    use std::collections::VecDeque;

    /// A body delivering `chunks` as the transport would.
    struct Chunks(VecDeque<Bytes>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = Status;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
            Poll::Ready(self.get_mut().0.pop_front().map(|c| Ok(Frame::data(c))))
        }
    }

    fn request(frame: &str, image_bytes: usize) -> VerifyRequest {
        VerifyRequest {
            line_id: "L1".into(),
            frame_id: frame.into(),
            frame: Some(crate::proto::verify_request::Frame::Image(Bytes::from(
                vec![7u8; image_bytes],
            ))),
            ..VerifyRequest::default()
        }
    }

    /// `requests` as gRPC puts them on the wire, cut into chunks at `cuts`.
    fn wire(requests: &[VerifyRequest], cuts: &[usize]) -> Body {
        let mut bytes = Vec::new();
        for r in requests {
            bytes.push(0);
            bytes.extend((r.encoded_len() as u32).to_be_bytes());
            bytes.extend(r.encode_to_vec());
        }
        let mut chunks = VecDeque::new();
        let mut start = 0;
        for &cut in cuts.iter().chain([&bytes.len()]) {
            chunks.push_back(Bytes::copy_from_slice(&bytes[start..cut]));
            start = cut;
        }
        Body::new(Chunks(chunks))
    }

    fn budget(bytes: usize) -> Budget {
        Budget {
            semaphore: Arc::new(Semaphore::new(bytes)),
            whole: bytes as u32,
            max_message: 1 << 20,
        }
    }

    /// The message `next` gives, with its share; panics on anything else.
    async fn message(inbound: &mut Inbound) -> (VerifyRequest, Share) {
        match inbound.next(Duration::ZERO).await {
            Next::Message(request, share) => (request, share),
            _ => panic!("no message"),
        }
    }

    #[tokio::test]
    async fn messages_arrive_whole_in_order_each_with_its_share_however_the_transport_cuts_them() {
        let sent = [request("a", 300), request("b", 0), request("c", 40)];
        let budget = budget(10_000);
        let (mut inbound, reading) = read_messages(wire(&sent, &[3, 200, 320]), budget.clone());
        tokio::spawn(reading);
        let mut received = Vec::new();
        loop {
            match inbound.next(Duration::ZERO).await {
                Next::Message(request, share) => {
                    assert_eq!(share.num_permits(), request.encoded_len().max(1));
                    received.push(request);
                }
                Next::End => break,
                _ => panic!("refused or idle"),
            }
        }
        assert_eq!(received, sent);
        assert_eq!(budget.semaphore.available_permits(), 10_000);
    }

    #[tokio::test]
    async fn a_message_is_not_read_until_its_share_is_free_and_its_sender_is_not_idle_meanwhile() {
        let sent = [request("a", 600), request("b", 600)];
        let budget = budget(1000);
        let (mut inbound, reading) = read_messages(wire(&sent, &[]), budget.clone());
        tokio::spawn(reading);
        let (first, share) = message(&mut inbound).await;
        assert_eq!(first, sent[0]);
        let second = tokio::time::timeout(
            Duration::from_millis(100),
            inbound.next(Duration::from_millis(10)),
        )
        .await;
        assert!(second.is_err(), "the second message came without its share");
        drop(share);
        let (second, _) = message(&mut inbound).await;
        assert_eq!(second, sent[1]);
    }

    #[tokio::test]
    async fn a_sender_that_begins_no_message_is_idle() {
        let silent = tokio_stream::pending::<Result<Frame<Bytes>, Status>>();
        let body = Body::new(http_body_util::StreamBody::new(silent));
        let (mut inbound, reading) = read_messages(body, budget(1000));
        tokio::spawn(reading);
        assert!(matches!(
            inbound.next(Duration::from_millis(10)).await,
            Next::Idle
        ));
    }

    #[tokio::test]
    async fn a_message_the_whole_budget_cannot_hold_and_one_over_the_limit_are_refused_unread() {
        for (bytes, code, names) in [
            (
                250,
                tonic::Code::ResourceExhausted,
                "max_inflight_bytes (100 bytes)",
            ),
            (2 << 20, tonic::Code::OutOfRange, "limit of 1048576 bytes"),
        ] {
            let sent = [request("a", 50), request("b", bytes), request("c", 50)];
            let budget = budget(100);
            let (mut inbound, reading) = read_messages(wire(&sent, &[]), budget.clone());
            tokio::spawn(reading);
            let (first, share) = message(&mut inbound).await;
            assert_eq!(first, sent[0]);
            drop(share);
            match inbound.next(Duration::ZERO).await {
                Next::Refused(status) => {
                    assert_eq!(status.code(), code, "{status:?}");
                    assert!(status.message().contains(names), "{status:?}");
                }
                _ => panic!("the message over {bytes} bytes was not refused"),
            }
            assert!(matches!(inbound.next(Duration::ZERO).await, Next::End));
            assert_eq!(budget.semaphore.available_permits(), 100);
        }
    }
}
