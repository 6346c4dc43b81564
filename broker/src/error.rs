//! The broker's error type and its mapping to Kafka error codes.

use kafka_protocol::ResponseError;

/// Errors of the broker library. Kafka protocol errors that a client should see are data in
/// responses; this type is for I/O failures, corrupt input and invariant violations, and
/// [`Error::kafka_code`] maps each to the code a response carries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation on a log, index or metadata file failed.
    #[error("{context}")]
    Io {
        /// What the broker was doing.
        context: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A record batch failed validation (CRC, magic, sizes).
    #[error("corrupt record batch: {0}")]
    CorruptBatch(String),
    /// A record batch (or a request's records) is larger than the configured maximum.
    #[error("record batch of {size} bytes exceeds the limit of {limit} bytes")]
    BatchTooLarge {
        /// Size of the offending batch.
        size: usize,
        /// Configured limit (`message.max.bytes` / `max.message.bytes`).
        limit: usize,
    },
    /// A read asked for an offset outside `[log_start_offset, log_end_offset]`.
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// Requested offset.
        offset: i64,
        /// First offset still in the log.
        log_start_offset: i64,
        /// Next offset to be written.
        log_end_offset: i64,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Persisted metadata could not be parsed.
    #[error("corrupt metadata file {path}")]
    CorruptMetadata {
        /// The file.
        path: std::path::PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A frame or request body could not be decoded.
    #[error("malformed request: {0}")]
    Malformed(String),
}

/// Result with the broker's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what the broker was doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The Kafka error code a response carries for this error.
    pub fn kafka_code(&self) -> ResponseError {
        match self {
            Error::Io { .. } => ResponseError::KafkaStorageError,
            Error::CorruptBatch(_) => ResponseError::CorruptMessage,
            Error::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
            Error::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            Error::InvalidConfig(_) => ResponseError::InvalidConfig,
            Error::CorruptMetadata { .. } => ResponseError::UnknownServerError,
            Error::Malformed(_) => ResponseError::InvalidRequest,
        }
    }

    /// [`Error::kafka_code`] as the `i16` a response field holds.
    pub fn code(&self) -> i16 {
        self.kafka_code().code()
    }
}
