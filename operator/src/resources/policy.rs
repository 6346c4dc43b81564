//! Policies around the broker pods: how many may be disrupted, and who may reach them.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    BuildSettings, CLIENT_PORT, CONTROL_PORT, ClusterNames, HTTP_PORT, broker_selector, owned_meta,
};
use crate::crd::FjordCluster;

/// At most one broker down at a time for voluntary disruptions (drains, upgrades), so a
/// partition with three replicas keeps `min.insync.replicas = 2`.
pub fn pod_disruption_budget(
    cluster: &FjordCluster,
    settings: &BuildSettings,
) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: owned_meta(cluster, settings, ClusterNames::of(cluster).broker()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(broker_selector(cluster)),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

fn tcp(port: i32) -> Vec<NetworkPolicyPort> {
    vec![NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_owned()),
        ..NetworkPolicyPort::default()
    }]
}

/// Ingress to the brokers: the client port from anywhere (clients authenticate with SASL),
/// the CONTROL port only from the cluster's own brokers, the HTTP port (health, metrics) from
/// the brokers and from Fjord's own pods (operator, API) in any namespace.
pub fn network_policy(cluster: &FjordCluster, settings: &BuildSettings) -> NetworkPolicy {
    let same_cluster = NetworkPolicyPeer {
        pod_selector: Some(broker_selector(cluster)),
        ..NetworkPolicyPeer::default()
    };
    let fjord_control_plane = NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector::default()),
        pod_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "app.kubernetes.io/part-of".to_owned(),
                "fjord".to_owned(),
            )])),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    };
    NetworkPolicy {
        metadata: owned_meta(cluster, settings, ClusterNames::of(cluster).broker()),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(broker_selector(cluster)),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    from: None,
                    ports: Some(tcp(CLIENT_PORT)),
                },
                NetworkPolicyIngressRule {
                    from: Some(vec![same_cluster.clone()]),
                    ports: Some(tcp(CONTROL_PORT)),
                },
                NetworkPolicyIngressRule {
                    from: Some(vec![same_cluster, fjord_control_plane]),
                    ports: Some(tcp(HTTP_PORT)),
                },
            ]),
            ..NetworkPolicySpec::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{assert_owned, selector_labels, test_cluster};

    #[test]
    fn pdb_allows_one_broker_down() {
        let cluster = test_cluster();
        let pdb = pod_disruption_budget(&cluster, &BuildSettings::default());
        assert_owned(&pdb.metadata);
        assert_eq!(pdb.metadata.name.as_deref(), Some("orders-broker"));
        let spec = pdb.spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(spec.min_available, None);
        assert_eq!(
            spec.selector.unwrap().match_labels,
            Some(selector_labels(&cluster))
        );
    }

    #[test]
    fn network_policy_opens_client_port_and_fences_control_port() {
        let cluster = test_cluster();
        let np = network_policy(&cluster, &BuildSettings::default());
        assert_owned(&np.metadata);
        let spec = np.spec.unwrap();
        assert_eq!(spec.policy_types, Some(vec!["Ingress".to_owned()]));
        let rules = spec.ingress.unwrap();
        let port_of = |r: &NetworkPolicyIngressRule| r.ports.as_ref().unwrap()[0].port.clone();
        assert_eq!(port_of(&rules[0]), Some(IntOrString::Int(9093)));
        assert!(rules[0].from.is_none(), "clients come from anywhere");

        assert_eq!(port_of(&rules[1]), Some(IntOrString::Int(9094)));
        let control_from = rules[1].from.as_ref().unwrap();
        assert_eq!(control_from.len(), 1);
        assert_eq!(
            control_from[0].pod_selector.as_ref().unwrap().match_labels,
            Some(selector_labels(&cluster))
        );
        assert!(control_from[0].namespace_selector.is_none());

        assert_eq!(port_of(&rules[2]), Some(IntOrString::Int(9644)));
        assert_eq!(rules[2].from.as_ref().unwrap().len(), 2);
    }
}
