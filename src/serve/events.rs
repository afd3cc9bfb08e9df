//! `Events`: the store's serialization events as an EPCIS 2.0 document, streamed in chunks as
//! the export writes them.

use super::{Shared, status};
use crate::proto::events_server::Events;
use crate::proto::{EpcisChunk, ExportEpcisRequest};
use crate::store::EventQuery;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

pub struct EventsService(pub(super) Arc<Shared>);

/// Bytes of the document per message.
const CHUNK_BYTES: usize = 64 << 10;

/// The document's bytes, sent on as chunks; a client gone stops the export.
struct Chunks {
    buffer: Vec<u8>,
    sender: mpsc::Sender<Result<EpcisChunk, Status>>,
}

impl Chunks {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES));
        self.sender
            .blocking_send(Ok(EpcisChunk { data: data.into() }))
            .map_err(|_| std::io::Error::other("the client is gone"))
    }
}

impl Write for Chunks {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<EpcisChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Events for EventsService {
    type ExportEpcisStream = ChunkStream;

    async fn export_epcis(
        &self,
        request: Request<ExportEpcisRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let request = request.into_inner();
        let query = EventQuery {
            line_id: request.line_id,
            batch: request.batch,
            since_ms: request.since_unix_ms,
        };
        let (sender, receiver) = mpsc::channel(4);
        let store = self.0.store.clone();
        let engine = self.0.engine.clone();
        tokio::task::spawn_blocking(move || {
            let chunks = Chunks {
                buffer: Vec::with_capacity(CHUNK_BYTES),
                sender: sender.clone(),
            };
            let locations = move |line: &str| engine.config().line_locations(line);
            if let Err(e) = store.export_epcis(&query, &locations, chunks) {
                let _ = sender.blocking_send(Err(status(&e)));
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}
