//! Framing: Kafka requests are an `int32` length followed by that many bytes.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};

/// A client connection: a read buffer over the stream (TCP, or TLS over TCP) and the frame
/// size limit.
#[derive(Debug)]
pub struct Connection<S> {
    stream: S,
    buffer: BytesMut,
    max_frame: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps an accepted stream; frames above `max_frame` bytes (`socket.request.max.bytes`)
    /// are refused.
    pub fn new(stream: S, max_frame: usize) -> Self {
        Connection {
            stream,
            buffer: BytesMut::with_capacity(64 * 1024),
            max_frame,
        }
    }

    /// Reads the next request frame (without its length prefix); `None` when the client
    /// closed the connection between frames.
    pub async fn read_frame(&mut self) -> Result<Option<Bytes>> {
        loop {
            if let Some(frame) = self.parse_frame()? {
                return Ok(Some(frame));
            }
            let n = self
                .stream
                .read_buf(&mut self.buffer)
                .await
                .map_err(|e| Error::io("failed to read from client", e))?;
            if n == 0 {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                return Err(Error::Malformed(format!(
                    "connection closed in the middle of a frame ({} bytes buffered)",
                    self.buffer.len()
                )));
            }
        }
    }

    fn parse_frame(&mut self) -> Result<Option<Bytes>> {
        if self.buffer.len() < 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([
            self.buffer[0],
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
        ]);
        if len < 0 {
            return Err(Error::Malformed(format!("negative frame size {len}")));
        }
        let len = len as usize;
        if len > self.max_frame {
            return Err(Error::Malformed(format!(
                "frame of {len} bytes is larger than socket.request.max.bytes ({})",
                self.max_frame
            )));
        }
        if self.buffer.len() < 4 + len {
            self.buffer.reserve(4 + len - self.buffer.len());
            return Ok(None);
        }
        self.buffer.advance(4);
        Ok(Some(self.buffer.split_to(len).freeze()))
    }

    /// Writes a whole response frame (its length prefix included).
    pub async fn write_frame(&mut self, frame: &[u8]) -> Result<()> {
        self.stream
            .write_all(frame)
            .await
            .map_err(|e| Error::io("failed to write to client", e))?;
        // TLS streams buffer; a plain socket's flush is a no-op.
        self.stream
            .flush()
            .await
            .map_err(|e| Error::io("failed to write to client", e))
    }

    /// Closes the write side (TLS close_notify, TCP FIN).
    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}
