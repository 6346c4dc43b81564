//! A minimal Kafka wire client for requests librdkafka's admin API lacks (client quotas):
//! typed requests from the `kafka-protocol` crate over plain TCP, optionally authenticated
//! with SASL/PLAIN first.

use anyhow::{Context, bail, ensure};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::STEP_TIMEOUT;

/// One connection to a broker that sends typed requests and decodes their responses.
#[derive(Debug)]
pub struct WireClient {
    stream: TcpStream,
    correlation_id: i32,
}

impl WireClient {
    /// Connects to `addr` (`host:port`) without authenticating.
    pub async fn connect(addr: &str) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(addr))
            .await
            .context("connect timed out")?
            .with_context(|| format!("failed to connect to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(WireClient {
            stream,
            correlation_id: 0,
        })
    }

    /// Connects to a SASL listener and authenticates as `user` with SASL/PLAIN.
    pub async fn connect_sasl_plain(
        addr: &str,
        user: &str,
        password: &str,
    ) -> anyhow::Result<Self> {
        let mut c = Self::connect(addr).await?;
        let hs = c
            .send(
                &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
                1,
            )
            .await?;
        ensure!(
            hs.error_code == 0,
            "SaslHandshake failed: {}",
            hs.error_code
        );
        let token = format!("\0{user}\0{password}");
        let auth = c
            .send(
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
                2,
            )
            .await?;
        ensure!(
            auth.error_code == 0,
            "SaslAuthenticate failed: {} {:?}",
            auth.error_code,
            auth.error_message
        );
        Ok(c)
    }

    /// Sends `request` at `version` and waits for its response.
    pub async fn send<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> anyhow::Result<R::Response> {
        self.correlation_id += 1;
        let correlation_id = self.correlation_id;
        let mut body = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("fjord-tests-wire")))
            .encode(&mut body, R::header_version(version))?;
        request.encode(&mut body, version)?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(i32::try_from(body.len())?);
        frame.extend_from_slice(&body);
        let mut response = tokio::time::timeout(STEP_TIMEOUT, async {
            self.stream.write_all(&frame).await?;
            let len = self.stream.read_i32().await?;
            let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
            self.stream.read_exact(&mut buf).await?;
            anyhow::Ok(Bytes::from(buf))
        })
        .await
        .context("no response within 30 s")??;
        let header = ResponseHeader::decode(&mut response, R::Response::header_version(version))?;
        if header.correlation_id != correlation_id {
            bail!(
                "response for correlation id {} instead of {correlation_id}",
                header.correlation_id
            );
        }
        let decoded = R::Response::decode(&mut response, version)?;
        ensure!(
            !response.has_remaining(),
            "{} bytes left after the response",
            response.remaining()
        );
        Ok(decoded)
    }

    /// Whether the broker has closed this connection (a read returns end of stream within
    /// `wait`).
    pub async fn is_closed_by_broker(&mut self, wait: std::time::Duration) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(wait, self.stream.read(&mut byte)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// One record batch (magic 2, uncompressed) holding a single record with `value`, for raw
/// Produce requests.
pub fn one_record_batch(value: &'static [u8]) -> anyhow::Result<Bytes> {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let record = Record {
        transactional: false,
        control: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 0,
        key: None,
        value: Some(Bytes::from_static(value)),
        headers: Default::default(),
        delete_horizon: false,
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &[record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )?;
    Ok(buf.freeze())
}
