//! The operator's error type.

/// Everything that can fail in the operator library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API server failed.
    #[error("failed to {action} {kind} {name}")]
    Kube {
        /// What was attempted (`apply`, `patch status of`, …).
        action: &'static str,
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
        /// The client's error (boxed: `kube::Error` is large).
        #[source]
        source: Box<kube::Error>,
    },
    /// Adding or removing the finalizer failed, or the wrapped reconcile did.
    #[error("finalizer handling failed")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// The object has no namespace, which a namespaced FjordCluster always has.
    #[error("fjordcluster {0} has no namespace")]
    MissingNamespace(String),
    /// The CRD could not be rendered as YAML.
    #[error("failed to render the crd as yaml")]
    CrdYaml(#[source] serde_saphyr::SerializeError),
    /// Built objects could not be rendered as YAML.
    #[error("failed to render manifests as yaml")]
    Yaml(#[source] serde_saphyr::SerializeError),
    /// A certificate or key could not be generated or read.
    #[error("failed to issue a certificate")]
    Certificate(#[source] rcgen::Error),
    /// A blocking task (certificate generation) panicked or was cancelled.
    #[error("a blocking task failed")]
    Blocking(#[source] Box<tokio::task::JoinError>),
    /// Another replica holds the operator's Lease now: this one must stop reconciling.
    #[error("lost the leader lease {0} to another replica")]
    LostLease(String),
    /// A built object could not be turned into JSON.
    #[error("failed to serialize an object")]
    Json(#[source] serde_json::Error),
}

impl Error {
    /// A short stable label for logs and metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube { .. } => "kube",
            Self::Finalizer(_) => "finalizer",
            Self::MissingNamespace(_) => "missing_namespace",
            Self::CrdYaml(_) => "crd_yaml",
            Self::Yaml(_) => "yaml",
            Self::Json(_) => "json",
            Self::Certificate(_) => "certificate",
            Self::Blocking(_) => "blocking",
            Self::LostLease(_) => "lost_lease",
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
