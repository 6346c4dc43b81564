//! One Kafka connection: length-prefixed frames, correlation ids, the request and response
//! header versions of each API version, a timeout on every round trip, and the API versions
//! the broker advertised (so each call can pick the highest version both sides support).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{KafkaError, timed_out};

/// Largest response frame accepted; anything bigger is a protocol error, not an allocation.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// `client.id` of every request.
const DEFAULT_CLIENT_ID: &str = "fjord";

/// A byte stream the connection can run over: TCP or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// One connection to one broker.
pub struct Connection {
    addr: String,
    client_id: String,
    stream: Box<dyn Stream>,
    timeout: Duration,
    next_correlation_id: i32,
    /// Broker-advertised `(min, max)` per API key.
    versions: BTreeMap<i16, (i16, i16)>,
    /// Set after a transport error or timeout: the stream may hold half a frame.
    broken: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection over an open `stream` to `addr`; nothing is sent yet.
    pub fn new(addr: String, stream: Box<dyn Stream>, timeout: Duration) -> Self {
        Connection {
            addr,
            client_id: DEFAULT_CLIENT_ID.to_string(),
            stream,
            timeout,
            next_correlation_id: 1,
            versions: BTreeMap::new(),
            broken: false,
        }
    }

    /// Sets the `client.id` of every request (brokers log and meter by it).
    pub fn set_client_id(&mut self, client_id: impl Into<String>) {
        self.client_id = client_id.into();
    }

    /// The `host:port` this connection reached.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The limit on each round trip.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Asks ApiVersions (v3 first; again with the broker's newest ApiVersions version when it
    /// answers UNSUPPORTED_VERSION with a v0 body, as brokers do) and keeps the ranges.
    pub async fn fetch_api_versions(&mut self) -> Result<(), KafkaError> {
        let mut request = ApiVersionsRequest::default();
        request.client_software_name = StrBytes::from_static_str("fjord");
        request.client_software_version = StrBytes::from_static_str(env!("CARGO_PKG_VERSION"));
        let mut version = ApiVersionsRequest::VERSIONS.max.min(3);
        for _ in 0..2 {
            let mut body = self.round_trip(&request, version).await?;
            let code = body
                .get(..2)
                .map_or(0, |b| i16::from_be_bytes([b[0], b[1]]));
            if code == ResponseError::UnsupportedVersion.code() && version > 0 {
                let v0 = decode::<ApiVersionsResponse>(&mut body, 0)?;
                let theirs = v0
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                    .map_or(0, |k| k.max_version);
                version = theirs.clamp(0, version - 1);
                continue;
            }
            let response = decode::<ApiVersionsResponse>(&mut body, version)?;
            KafkaError::check(|| "ApiVersions".to_string(), response.error_code, None)?;
            self.versions = response
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect();
            return Ok(());
        }
        Err(KafkaError::Protocol(
            "the broker refused every ApiVersions version".into(),
        ))
    }

    /// The highest version of `R` that this client (`ours`), the `kafka-protocol` crate and
    /// the broker all support.
    pub fn version_for<R: Request>(&self, ours: RangeInclusive<i16>) -> Result<i16, KafkaError> {
        let name = ApiKey::try_from(R::KEY)
            .map_or_else(|_| format!("api {}", R::KEY), |k| format!("{k:?}"));
        let Some(&(broker_min, broker_max)) = self.versions.get(&R::KEY) else {
            return Err(KafkaError::Protocol(format!(
                "the broker at {} does not serve {name}",
                self.addr
            )));
        };
        let max = (*ours.end()).min(R::VERSIONS.max).min(broker_max);
        let min = (*ours.start()).max(R::VERSIONS.min).max(broker_min);
        if min > max {
            return Err(KafkaError::Protocol(format!(
                "no common {name} version: the broker at {} serves v{broker_min}..=v{broker_max}, this client v{}..=v{}",
                self.addr,
                ours.start(),
                ours.end()
            )));
        }
        Ok(max)
    }

    /// Sends `request` as `version` and decodes the answer.
    pub async fn send<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, KafkaError> {
        let mut body = self.round_trip(request, version).await?;
        decode::<R::Response>(&mut body, version)
    }

    /// The correlation id of the next request, or why this connection cannot send one.
    fn start_request(&mut self) -> Result<i32, KafkaError> {
        if self.broken {
            return Err(KafkaError::Connect {
                addr: self.addr.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the connection failed earlier; connect again",
                ),
            });
        }
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1).max(1);
        Ok(correlation_id)
    }

    /// Sends a frame of an API key the `kafka-protocol` crate does not know (the brokers'
    /// private node-to-node key): request header v1 with `api_key` and `version`, then
    /// `body`; returns the response body after its v0 header (the correlation id).
    pub async fn raw_round_trip(
        &mut self,
        api_key: i16,
        version: i16,
        body: &[u8],
    ) -> Result<Bytes, KafkaError> {
        let correlation_id = self.start_request()?;
        let client_id = self.client_id.as_bytes();
        let mut frame = BytesMut::with_capacity(14 + client_id.len() + body.len());
        let len = 2 + 2 + 4 + 2 + client_id.len() + body.len();
        let len =
            i32::try_from(len).map_err(|_| KafkaError::Protocol("request too large".into()))?;
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&api_key.to_be_bytes());
        frame.extend_from_slice(&version.to_be_bytes());
        frame.extend_from_slice(&correlation_id.to_be_bytes());
        frame.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
        frame.extend_from_slice(client_id);
        frame.extend_from_slice(body);
        let exchange = async {
            self.stream.write_all(&frame).await?;
            self.stream.flush().await?;
            read_frame(&mut self.stream).await
        };
        let mut response = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(source)) => {
                self.broken = true;
                return Err(KafkaError::Connect {
                    addr: self.addr.clone(),
                    source,
                });
            }
            Err(_) => {
                self.broken = true;
                return Err(timed_out(
                    &self.addr,
                    &format!("request {api_key}"),
                    self.timeout,
                ));
            }
        };
        if response.remaining() < 4 || response.get_i32() != correlation_id {
            self.broken = true;
            return Err(KafkaError::Protocol(format!(
                "response to request {correlation_id} has another correlation id"
            )));
        }
        Ok(response)
    }

    /// Whether a transport error or timeout made this connection unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Changes the limit on each round trip.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Writes one request frame and reads its response frame; returns the body after the
    /// response header (whose correlation id must match).
    async fn round_trip<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<Bytes, KafkaError> {
        let correlation_id = self.start_request()?;
        let frame = encode_request(request, version, correlation_id, &self.client_id)?;
        let exchange = async {
            self.stream.write_all(&frame).await?;
            self.stream.flush().await?;
            read_frame(&mut self.stream).await
        };
        let result = tokio::time::timeout(self.timeout, exchange).await;
        let mut response = match result {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(source)) => {
                self.broken = true;
                return Err(KafkaError::Connect {
                    addr: self.addr.clone(),
                    source,
                });
            }
            Err(_) => {
                self.broken = true;
                let what = ApiKey::try_from(R::KEY).map_or_else(
                    |_| format!("request {}", R::KEY),
                    |k| format!("{k:?} request"),
                );
                return Err(timed_out(&self.addr, &what, self.timeout));
            }
        };
        let header_version = R::Response::header_version(version);
        let header = ResponseHeader::decode(&mut response, header_version)
            .map_err(|e| KafkaError::Protocol(format!("bad response header: {e}")))?;
        if header.correlation_id != correlation_id {
            self.broken = true;
            return Err(KafkaError::Protocol(format!(
                "response correlation id {} does not match request {correlation_id}",
                header.correlation_id
            )));
        }
        Ok(response)
    }
}

/// Length prefix, request header (v1 or v2 by the API version), body.
fn encode_request<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<BytesMut, KafkaError> {
    let mut header = RequestHeader::default();
    header.request_api_key = R::KEY;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_string(client_id.to_string()));
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(&[0; 4]);
    header
        .encode(&mut buf, R::header_version(version))
        .map_err(|e| KafkaError::Protocol(format!("failed to encode a request header: {e}")))?;
    request.encode(&mut buf, version).map_err(|e| {
        KafkaError::Protocol(format!("failed to encode api {} v{version}: {e}", R::KEY))
    })?;
    let len = i32::try_from(buf.len() - 4)
        .map_err(|_| KafkaError::Protocol("request too large".into()))?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

/// Reads one length-prefixed frame.
async fn read_frame(stream: &mut Box<dyn Stream>) -> std::io::Result<Bytes> {
    let len = stream.read_i32().await?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= MAX_RESPONSE_BYTES)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("response frame length {len} is out of range"),
            )
        })?;
    let mut buf = vec![0; len];
    stream.read_exact(&mut buf).await?;
    Ok(Bytes::from(buf))
}

/// Decodes a response body; one that does not parse as `version` is a protocol error naming
/// the message (trailing bytes are only logged, as newer brokers may add fields).
fn decode<M: Decodable + Message>(body: &mut Bytes, version: i16) -> Result<M, KafkaError> {
    let message = M::decode(body, version).map_err(|e| {
        KafkaError::Protocol(format!(
            "failed to decode {} v{version}: {e}",
            std::any::type_name::<M>()
                .rsplit("::")
                .next()
                .unwrap_or("response")
        ))
    })?;
    if body.has_remaining() {
        tracing::debug!(
            trailing = body.remaining(),
            "response had trailing bytes after its body"
        );
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::MetadataRequest;

    use super::*;

    #[test]
    fn request_frames_carry_length_header_and_body() {
        let frame = encode_request(&MetadataRequest::default(), 12, 7, "fjord-test").unwrap();
        let len = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        assert_eq!(len as usize, frame.len() - 4);
        assert_eq!(
            i16::from_be_bytes([frame[4], frame[5]]),
            ApiKey::Metadata as i16
        );
        assert_eq!(i16::from_be_bytes([frame[6], frame[7]]), 12);
        assert_eq!(
            i32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]),
            7
        );
        // Header v2 (flexible): client id, then an empty tagged-field section.
        let mut rest = Bytes::copy_from_slice(&frame[4..]);
        let header = RequestHeader::decode(&mut rest, 2).unwrap();
        assert_eq!(header.client_id.unwrap().as_str(), "fjord-test");
        assert!(MetadataRequest::decode(&mut rest, 12).is_ok());
        assert!(!rest.has_remaining());
    }

    #[test]
    fn versions_are_the_highest_common_one() {
        let (a, _b) = tokio::io::duplex(64);
        let mut conn = Connection::new("x:1".into(), Box::new(a), Duration::from_secs(1));
        conn.versions.insert(ApiKey::Metadata as i16, (0, 12));
        assert_eq!(conn.version_for::<MetadataRequest>(4..=13).unwrap(), 12);
        assert_eq!(conn.version_for::<MetadataRequest>(4..=9).unwrap(), 9);
        let e = conn.version_for::<MetadataRequest>(13..=13).unwrap_err();
        assert!(e.to_string().contains("no common Metadata version"), "{e}");
        let e = conn.version_for::<ApiVersionsRequest>(0..=3).unwrap_err();
        assert!(e.to_string().contains("does not serve ApiVersions"), "{e}");
    }
}
