//! Quota entities, the quota types, and Kafka's precedence between entities: pure data and
//! functions over it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A quota type, named by its Kafka config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum QuotaType {
    /// `producer_byte_rate`: record-batch bytes accepted by Produce per second.
    #[serde(rename = "producer_byte_rate")]
    Produce,
    /// `consumer_byte_rate`: record-batch bytes returned by Fetch per second.
    #[serde(rename = "consumer_byte_rate")]
    Fetch,
    /// `request_percentage`: request handling time, in percent of one thread.
    #[serde(rename = "request_percentage")]
    Request,
}

impl QuotaType {
    /// Every type.
    pub const ALL: [QuotaType; 3] = [QuotaType::Produce, QuotaType::Fetch, QuotaType::Request];

    /// The Kafka config key.
    pub fn key(self) -> &'static str {
        match self {
            QuotaType::Produce => "producer_byte_rate",
            QuotaType::Fetch => "consumer_byte_rate",
            QuotaType::Request => "request_percentage",
        }
    }

    /// The type of a Kafka config key.
    pub fn from_key(key: &str) -> Option<Self> {
        QuotaType::ALL.into_iter().find(|t| t.key() == key)
    }

    /// Short name used as a metric label (`produce`, `fetch`, `request`).
    pub fn label(self) -> &'static str {
        match self {
            QuotaType::Produce => "produce",
            QuotaType::Fetch => "fetch",
            QuotaType::Request => "request",
        }
    }

    /// Whether values must be whole numbers (Kafka declares the byte rates as longs).
    fn integral(self) -> bool {
        matches!(self, QuotaType::Produce | QuotaType::Fetch)
    }

    /// Checks a value as Kafka does, plus positivity: a quota of 0 would stop a client for
    /// good, and removing the key is how a quota is lifted.
    pub fn validate(self, value: f64) -> Result<(), String> {
        if !value.is_finite() || value <= 0.0 {
            return Err(format!(
                "{} must be a positive number, not {value}",
                self.key()
            ));
        }
        if self.integral() && (value.fract() != 0.0 || value > i64::MAX as f64) {
            return Err(format!(
                "{} must be a whole number of bytes per second, not {value}",
                self.key()
            ));
        }
        Ok(())
    }
}

/// One component of an entity: a specific name, or Kafka's default entity (`<default>`,
/// a null name on the wire).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityName {
    /// The default for every name without a quota of its own.
    Default,
    /// One user or client id.
    Name(String),
}

impl EntityName {
    /// From the wire: `None` is the default entity.
    pub fn from_wire(name: Option<&str>) -> Self {
        name.map_or(EntityName::Default, |n| EntityName::Name(n.to_string()))
    }

    /// To the wire: the default entity is `None`.
    pub fn to_wire(&self) -> Option<&str> {
        match self {
            EntityName::Default => None,
            EntityName::Name(n) => Some(n),
        }
    }
}

impl fmt::Display for EntityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityName::Default => f.write_str("<default>"),
            EntityName::Name(n) => f.write_str(n),
        }
    }
}

/// What a quota is set on: a user, a client id, or both (Kafka's `/config/users/<user>`,
/// `/config/clients/<client-id>`, `/config/users/<user>/clients/<client-id>`). At least one
/// component is present.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QuotaEntity {
    /// The `user` component (the principal's name), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<EntityName>,
    /// The `client-id` component, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<EntityName>,
}

/// Entity type names on the wire.
pub const USER: &str = "user";
/// Entity type names on the wire.
pub const CLIENT_ID: &str = "client-id";

impl fmt::Display for QuotaEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(u) = &self.user {
            write!(f, "users/{u}")?;
            sep = "/";
        }
        if let Some(c) = &self.client_id {
            write!(f, "{sep}clients/{c}")?;
        }
        Ok(())
    }
}

/// Who a request comes from, as quotas see it.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// The principal's name (`ANONYMOUS` on listeners without authentication).
    pub user: &'a str,
    /// The client id of the request header.
    pub client_id: &'a str,
}

/// The rate a quota is measured in: Kafka's metric tags. A quota on `users/alice` is shared by
/// all of alice's clients (`user: Some("alice"), client_id: None`); one on
/// `clients/<default>` gives each client id a rate of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SensorKey {
    /// The quota type.
    pub quota: QuotaType,
    /// The user, when the matching entity has a user component.
    pub user: Option<String>,
    /// The client id, when the matching entity has a client-id component.
    pub client_id: Option<String>,
}

/// A quota that applies to a client: its bound and the rate it is measured in.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedQuota {
    /// The bound (bytes per second, or percent of one thread).
    pub bound: f64,
    /// The entity it was set on.
    pub entity: QuotaEntity,
    /// The shared rate.
    pub sensor: SensorKey,
}

/// Quota values set on entities.
pub type QuotaTable = BTreeMap<QuotaEntity, BTreeMap<QuotaType, f64>>;

/// The entities that may hold `client`'s quota, most specific first (Kafka's order):
/// `users/u/clients/c`, `users/u/clients/<default>`, `users/u`, `users/<default>/clients/c`,
/// `users/<default>/clients/<default>`, `users/<default>`, `clients/c`, `clients/<default>`.
pub fn precedence(client: Client<'_>) -> [QuotaEntity; 8] {
    let user = || Some(EntityName::Name(client.user.to_string()));
    let id = || Some(EntityName::Name(client.client_id.to_string()));
    let default = || Some(EntityName::Default);
    let e = |user, client_id| QuotaEntity { user, client_id };
    [
        e(user(), id()),
        e(user(), default()),
        e(user(), None),
        e(default(), id()),
        e(default(), default()),
        e(default(), None),
        e(None, id()),
        e(None, default()),
    ]
}

/// The quota of type `quota` that applies to `client`: the first entity in [`precedence`]
/// order that sets it. Each type is resolved on its own, as in Kafka.
pub fn resolve(table: &QuotaTable, quota: QuotaType, client: Client<'_>) -> Option<AppliedQuota> {
    if table.is_empty() {
        return None;
    }
    precedence(client).into_iter().find_map(|entity| {
        let bound = *table.get(&entity)?.get(&quota)?;
        let sensor = SensorKey {
            quota,
            user: entity.user.as_ref().map(|_| client.user.to_string()),
            client_id: entity
                .client_id
                .as_ref()
                .map(|_| client.client_id.to_string()),
        };
        Some(AppliedQuota {
            bound,
            entity,
            sensor,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(user: Option<Option<&str>>, client: Option<Option<&str>>) -> QuotaEntity {
        QuotaEntity {
            user: user.map(EntityName::from_wire),
            client_id: client.map(EntityName::from_wire),
        }
    }

    const ALICE_APP: Client<'static> = Client {
        user: "alice",
        client_id: "app",
    };

    #[test]
    fn each_entity_wins_over_every_less_specific_one() {
        // Every entity that could apply to alice/app, in Kafka's order.
        let order = precedence(ALICE_APP);
        for (i, winner) in order.iter().enumerate() {
            let mut table = QuotaTable::new();
            for (j, e) in order.iter().enumerate().skip(i) {
                table
                    .entry(e.clone())
                    .or_default()
                    .insert(QuotaType::Produce, (j + 1) as f64);
            }
            let applied = resolve(&table, QuotaType::Produce, ALICE_APP).unwrap();
            assert_eq!(&applied.entity, winner, "with entities {i}.. set");
            assert_eq!(applied.bound, (i + 1) as f64);
        }
    }

    #[test]
    fn types_resolve_independently_and_unrelated_entities_never_apply() {
        let mut table = QuotaTable::new();
        table.insert(
            entity(Some(Some("alice")), None),
            [(QuotaType::Produce, 100.0)].into(),
        );
        table.insert(
            entity(None, Some(None)),
            [(QuotaType::Fetch, 200.0), (QuotaType::Produce, 1.0)].into(),
        );
        table.insert(
            entity(Some(Some("bob")), Some(Some("app"))),
            [(QuotaType::Request, 5.0)].into(),
        );
        let produce = resolve(&table, QuotaType::Produce, ALICE_APP).unwrap();
        assert_eq!(produce.bound, 100.0);
        let fetch = resolve(&table, QuotaType::Fetch, ALICE_APP).unwrap();
        assert_eq!(
            fetch.bound, 200.0,
            "fetch falls through to clients/<default>"
        );
        assert_eq!(resolve(&table, QuotaType::Request, ALICE_APP), None);
        let bob_other = Client {
            user: "bob",
            client_id: "other",
        };
        assert_eq!(resolve(&table, QuotaType::Request, bob_other), None);
    }

    #[test]
    fn the_sensor_is_shared_as_widely_as_the_entity_reaches() {
        let mut table = QuotaTable::new();
        table.insert(
            entity(Some(Some("alice")), None),
            [(QuotaType::Produce, 1.0)].into(),
        );
        table.insert(entity(None, Some(None)), [(QuotaType::Produce, 1.0)].into());
        let a = resolve(&table, QuotaType::Produce, ALICE_APP).unwrap();
        let a2 = resolve(
            &table,
            QuotaType::Produce,
            Client {
                user: "alice",
                client_id: "other",
            },
        )
        .unwrap();
        assert_eq!(
            a.sensor, a2.sensor,
            "all of alice's clients share users/alice"
        );
        assert_eq!(a.sensor.client_id, None);
        let b = Client {
            user: "bob",
            client_id: "x",
        };
        let c = Client {
            user: "carol",
            client_id: "y",
        };
        let (b, c) = (
            resolve(&table, QuotaType::Produce, b).unwrap(),
            resolve(&table, QuotaType::Produce, c).unwrap(),
        );
        assert_eq!(b.sensor.client_id.as_deref(), Some("x"));
        assert_ne!(
            b.sensor, c.sensor,
            "clients/<default> is one rate per client id"
        );
    }

    #[test]
    fn values_are_validated_per_type() {
        assert!(QuotaType::Produce.validate(1_048_576.0).is_ok());
        assert!(QuotaType::Request.validate(12.5).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(QuotaType::Request.validate(bad).is_err(), "{bad}");
        }
        let e = QuotaType::Fetch.validate(10.5).unwrap_err();
        assert!(e.contains("consumer_byte_rate"), "{e}");
        assert_eq!(
            QuotaType::from_key("producer_byte_rate"),
            Some(QuotaType::Produce)
        );
        assert_eq!(QuotaType::from_key("controller_mutation_rate"), None);
    }

    #[test]
    fn entities_print_like_kafka_config_paths_and_persist_as_json() {
        let e = entity(Some(Some("alice")), Some(None));
        assert_eq!(e.to_string(), "users/alice/clients/<default>");
        assert_eq!(entity(None, Some(Some("c"))).to_string(), "clients/c");
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"user":{"name":"alice"},"client_id":"default"}"#);
        assert_eq!(serde_json::from_str::<QuotaEntity>(&json).unwrap(), e);
    }
}
