//! The two Services: headless (one stable DNS name per broker) and bootstrap (any broker).

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    BuildSettings, CLIENT_PORT, CONTROL_PORT, ClusterNames, HTTP_PORT, owned_meta, selector_labels,
};
use crate::crd::FjordCluster;

fn port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port,
        target_port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    }
}

/// The headless Service behind the StatefulSet: `N-broker-<i>.N-brokers.<ns>.svc` resolves to
/// broker `i`. Not-ready brokers are published too, so brokers find each other while starting.
pub fn headless_service(cluster: &FjordCluster, settings: &BuildSettings) -> Service {
    let names = ClusterNames::of(cluster);
    Service {
        metadata: owned_meta(cluster, settings, names.headless_service()),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(cluster)),
            ports: Some(vec![
                port("kafka", CLIENT_PORT),
                port("control", CONTROL_PORT),
                port("http", HTTP_PORT),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The bootstrap Service: a ClusterIP in front of the ready brokers' client port only.
pub fn bootstrap_service(cluster: &FjordCluster, settings: &BuildSettings) -> Service {
    let names = ClusterNames::of(cluster);
    Service {
        metadata: owned_meta(cluster, settings, names.bootstrap_service()),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector_labels(cluster)),
            ports: Some(vec![port("kafka", CLIENT_PORT)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{assert_owned, test_cluster};

    fn ports(svc: &Service) -> Vec<(String, i32)> {
        svc.spec
            .as_ref()
            .unwrap()
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| (p.name.clone().unwrap(), p.port))
            .collect()
    }

    #[test]
    fn headless_service_publishes_every_broker_port() {
        let cluster = test_cluster();
        let svc = headless_service(&cluster, &BuildSettings::default());
        assert_owned(&svc.metadata);
        assert_eq!(svc.metadata.name.as_deref(), Some("orders-brokers"));
        let spec = svc.spec.as_ref().unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
        assert_eq!(spec.selector.as_ref(), Some(&selector_labels(&cluster)));
        assert_eq!(
            ports(&svc),
            [
                ("kafka".to_owned(), 9093),
                ("control".to_owned(), 9094),
                ("http".to_owned(), 9644)
            ]
        );
    }

    #[test]
    fn bootstrap_service_exposes_only_the_client_port() {
        let cluster = test_cluster();
        let svc = bootstrap_service(&cluster, &BuildSettings::default());
        assert_owned(&svc.metadata);
        assert_eq!(svc.metadata.name.as_deref(), Some("orders-bootstrap"));
        assert_eq!(ports(&svc), [("kafka".to_owned(), 9093)]);
        let spec = svc.spec.unwrap();
        assert_eq!(spec.publish_not_ready_addresses, None);
        assert_eq!(
            spec.ports.unwrap()[0].target_port,
            Some(IntOrString::String("kafka".to_owned()))
        );
    }
}
