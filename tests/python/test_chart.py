"""The Helm chart (charts/fjord) and the FjordCluster samples, checked offline.

- ``helm lint --strict`` and ``helm template`` through helm-python-sdk (Helm v4's Go library
  over its C ABI: no helm binary, no cluster), with the default values and with the value sets
  a production install uses;
- every rendered object, and the CRD, validated with ``kubernetes-validate -k 1.33.0
  --strict`` against Kubernetes 1.33's OpenAPI schemas (unknown fields are errors);
- values.schema.json rejecting wrong values;
- the FjordCluster samples validated against the generated CRD's openAPIV3Schema with
  jsonschema (kubernetes-validate cannot check custom resources).
"""

import subprocess
import sys
from pathlib import Path

import helm_python as helm
import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "fjord"
CRD = CHART / "crds" / "fjordcluster.yaml"
SAMPLES = sorted((REPO_ROOT / "operator" / "samples").glob("*.yaml"))
KUBERNETES_VERSION = "1.33.0"
RELEASE = "fjord"
NAMESPACE = "fjord-system"

# Value sets a release is installed with; each must lint, render and validate.
VALUE_SETS = {
    "defaults": {},
    "production": {
        "operator": {"replicas": 3},
        "api": {
            "replicas": 2,
            "database": {"url": "postgres://fjord:secret@postgres:5432/fjord"},
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "host": "fjord.example.com",
                "tlsSecret": "fjord-tls",
                "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "8m"},
            },
            "service": {"type": "LoadBalancer", "port": 443},
        },
        "image": {"tag": "0.1.0", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "registry"}],
    },
    "existing-secret": {
        "api": {"database": {"existingSecret": "fjord-db", "existingSecretKey": "url"},
                "signingKeys": {"existingSecret": "fjord-signing-keys"}},
        "operator": {"serviceAccount": {"create": False, "name": "fjord-operator"}},
    },
    "operator-only": {"api": {"enabled": False}},
    "api-only": {"operator": {"enabled": False}, "api": {"persistence": {"enabled": False}}},
}


@pytest.fixture(scope="module")
def chart():
    return helm.Chart.load(str(CHART))


def render(chart, values):
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append((path, doc))
    return objects


def by_kind(objects, kind, name=None):
    found = [o for _, o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert found, f"no {kind} {name or ''} rendered"
    return found


def kubernetes_validate(paths):
    """Runs the kubernetes-validate CLI of this interpreter's environment on `paths`."""
    cli = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(cli), "-k", KUBERNETES_VERSION, "--strict", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_lint_strict_passes(name):
    report = helm.lint(str(CHART), VALUE_SETS[name], strict=True, namespace=NAMESPACE,
                       kube_version=f"v{KUBERNETES_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_object_validates_against_kubernetes(chart, name, tmp_path):
    objects = render(chart, VALUE_SETS[name])
    assert objects
    files = []
    for i, (path, obj) in enumerate(objects):
        assert obj["metadata"].get("namespace", NAMESPACE) == NAMESPACE, path
        f = tmp_path / f"{i:02d}-{obj['kind']}.yaml"
        f.write_text(yaml.safe_dump(obj))
        files.append(f)
    code, output = kubernetes_validate(files)
    assert code == 0, output
    assert output.count(" passed for resource ") == len(files), output


def test_the_crd_validates_against_kubernetes():
    code, output = kubernetes_validate([CRD])
    assert code == 0, output


def test_a_broken_object_fails_validation(tmp_path):
    """The validator is strict: an unknown field and a wrong type are both errors."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
        "spec": {"ports": [{"port": "http"}], "selectr": {}},
    }))
    code, output = kubernetes_validate([bad])
    assert code != 0, output


def test_defaults_install_the_operator_and_the_api(chart):
    objects = render(chart, {})
    kinds = sorted({o["kind"] for _, o in objects})
    assert kinds == [
        "ClusterRole", "ClusterRoleBinding", "Deployment", "PersistentVolumeClaim",
        "Role", "RoleBinding", "Service", "ServiceAccount",
    ]
    operator = by_kind(objects, "Deployment", "fjord-operator")[0]
    assert operator["spec"]["replicas"] == 2
    container = operator["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["FJORD_LEADER_ELECTION"]["value"] == "true"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["FJORD_BROKER_IMAGE"]["value"] == "ghcr.io/fjord-dev/fjord"
    assert container["image"] == "ghcr.io/fjord-dev/fjord:0.1.0"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True

    api = by_kind(objects, "Deployment", "fjord-api")[0]
    assert api["spec"]["strategy"]["type"] == "Recreate", "one SQLite writer"
    api_container = api["spec"]["template"]["spec"]["containers"][0]
    assert api_container["command"] == ["fjord"] and api_container["args"] == ["serve"]
    assert api_container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    api_env = {e["name"]: e.get("value") for e in api_container["env"]}
    assert "FJORD_DATABASE_URL" not in api_env
    assert "FJORD_SIGNING_KEYS_DIR" not in api_env, "keys in the database by default"
    assert api_env["FJORD_PROVISIONER"] == "kubernetes"
    assert api_env["FJORD_CLUSTER_NAMESPACE"] == NAMESPACE
    volumes = {v["name"]: v for v in api["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "fjord-api-data"
    service = by_kind(objects, "Service", "fjord-api")[0]
    assert service["spec"]["ports"][0]["port"] == 8080


def test_operator_rbac_is_least_privilege(chart):
    objects = render(chart, {})
    rules = by_kind(objects, "ClusterRole")[0]["rules"]
    verbs = {(g, r): set(rule["verbs"]) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert verbs[("", "pods")] == {"get", "list", "delete"}, "the roll deletes one pod at a time"
    assert verbs[("fjord.dev", "fjordclusters/status")] == {"get", "patch"}
    assert verbs[("events.k8s.io", "events")] == {"create", "patch"}
    assert all("*" not in v for v in verbs.values())
    for kind, owned in [("apps", "statefulsets"), ("", "services"), ("", "configmaps")]:
        assert "delete" not in verbs[(kind, owned)], "owned objects go by garbage collection"
    lease_role = by_kind(objects, "Role", "fjord-operator-leader-election")[0]
    assert lease_role["metadata"]["namespace"] == NAMESPACE
    assert lease_role["rules"] == [{
        "apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
        "verbs": ["get", "create", "update"],
    }]


def test_the_api_may_only_touch_fjordclusters_and_read_secrets_in_the_cluster_namespace(chart):
    objects = render(chart, {"api": {"clusterNamespace": "tenants"}})
    role = by_kind(objects, "Role", "fjord-api-provisioner")[0]
    assert role["metadata"]["namespace"] == "tenants"
    assert role["rules"] == [
        {"apiGroups": ["fjord.dev"], "resources": ["fjordclusters"], "verbs": ["get", "patch", "delete"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    ]
    binding = by_kind(objects, "RoleBinding", "fjord-api-provisioner")[0]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "fjord-api", "namespace": NAMESPACE}]
    embedded = render(chart, {"api": {"provisioner": "embedded"}})
    assert not [o for _, o in embedded if o["metadata"]["name"] == "fjord-api-provisioner"]


def test_production_values_use_the_database_secret_and_the_ingress(chart):
    objects = render(chart, VALUE_SETS["production"])
    secret = by_kind(objects, "Secret", "fjord-api-database")[0]
    assert secret["stringData"]["database-url"].startswith("postgres://")
    api = by_kind(objects, "Deployment", "fjord-api")[0]
    assert api["spec"]["replicas"] == 2
    assert "strategy" not in api["spec"], "rolling updates with a shared database"
    env = {e["name"]: e for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FJORD_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "fjord-api-database", "key": "database-url"}
    assert not [o for _, o in objects if o["kind"] == "PersistentVolumeClaim"]
    ingress = by_kind(objects, "Ingress")[0]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["fjord.example.com"], "secretName": "fjord-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "fjord-api", "port": {"name": "http"}}


def test_an_existing_secret_is_referenced_not_created(chart):
    objects = render(chart, VALUE_SETS["existing-secret"])
    assert not [o for _, o in objects if o["kind"] == "Secret"]
    api = by_kind(objects, "Deployment", "fjord-api")[0]
    env = {e["name"]: e for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FJORD_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "fjord-db", "key": "url"}
    # The signing keys are mounted (the kubelet refreshes the files when the Secret rotates),
    # read-only, and named to the API.
    pod = api["spec"]["template"]["spec"]
    assert env["FJORD_SIGNING_KEYS_DIR"]["value"] == "/etc/fjord/signing-keys"
    volume = next(v for v in pod["volumes"] if v["name"] == "signing-keys")
    assert volume["secret"] == {"secretName": "fjord-signing-keys", "defaultMode": 0o440}
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "signing-keys")
    assert mount == {"name": "signing-keys", "mountPath": "/etc/fjord/signing-keys",
                     "readOnly": True}
    operator = by_kind(objects, "Deployment", "fjord-operator")[0]
    assert operator["spec"]["template"]["spec"]["serviceAccountName"] == "fjord-operator"
    assert not [o for _, o in objects if o["kind"] == "ServiceAccount"
                and o["metadata"]["name"] == "fjord-operator"]


@pytest.mark.parametrize("values, message", [
    ({"api": {"replicaz": 2}}, "additional properties 'replicaz' not allowed"),
    ({"api": {"replicas": "two"}}, "got string, want integer"),
    ({"operator": {"replicas": 0}}, "minimum"),
    ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
    ({"api": {"database": {"url": "mysql://x"}}}, "url"),
    ({"api": {"signingKeys": {"existingSecret": "Not A Name"}}}, "existingSecret"),
    ({"api": {"resources": {"limits": {"memory": "lots"}}}}, "memory"),
])
def test_values_schema_rejects_wrong_values(chart, values, message):
    with pytest.raises(helm.HelmValuesError) as raised:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(raised.value)


def test_several_api_replicas_need_a_shared_database(chart):
    with pytest.raises(helm.HelmRenderError) as raised:
        chart.render({"api": {"replicas": 2}}, name=RELEASE, namespace=NAMESPACE)
    assert "api.replicas > 1 needs a shared database" in str(raised.value)


def crd_schema():
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return crd, version["schema"]["openAPIV3Schema"]


def test_the_crd_is_fjordcluster_v1alpha1_with_status_and_columns():
    crd, schema = crd_schema()
    assert crd["spec"]["group"] == "fjord.dev"
    assert crd["spec"]["names"]["kind"] == "FjordCluster"
    assert crd["spec"]["scope"] == "Namespaced"
    version = crd["spec"]["versions"][0]
    assert "status" in version["subresources"]
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Brokers", "Ready", "Bootstrap", "Age"]
    assert schema["properties"]["spec"]["properties"]["brokers"]["x-kubernetes-validations"]
    autoscaling = schema["properties"]["spec"]["properties"]["autoscaling"]
    assert autoscaling["properties"]["targetUtilizationPercent"]["maximum"] == 100


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_samples_fit_the_crd_schema(sample):
    _, schema = crd_schema()
    docs = [d for d in yaml.safe_load_all(sample.read_text()) if d]
    assert docs, sample
    for doc in docs:
        assert doc["apiVersion"] == "fjord.dev/v1alpha1" and doc["kind"] == "FjordCluster"
        # The API server prunes unknown fields; here they are errors, so a typo cannot hide.
        jsonschema.validate(doc["spec"], closed(schema["properties"]["spec"]))
        jsonschema.validate(doc, {**schema, "properties": {k: v for k, v in schema["properties"].items()
                                                           if k != "spec"}})


def closed(schema):
    """`schema` with additionalProperties: false on every object that lists properties (what
    the API server's pruning would silently drop becomes an error)."""
    if isinstance(schema, dict):
        out = {k: closed(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


@pytest.mark.parametrize("spec, where", [
    ({"brokers": {"min": 0, "max": 3}}, "min"),
    ({"listeners": {"saslMechanisms": ["GSSAPI"]}}, "GSSAPI"),
    ({"storage": {"size": "lots"}}, "lots"),
    ({"storage": {"sise": "1Gi"}}, "sise"),
    ({"autoscaling": {"targetUtilizationPercent": 150}}, "150"),
    ({"limits": {"ingressMbPerS": "fast"}}, "fast"),
])
def test_the_crd_schema_rejects_bad_specs(spec, where):
    _, schema = crd_schema()
    with pytest.raises(jsonschema.ValidationError) as raised:
        jsonschema.validate(spec, closed(schema["properties"]["spec"]))
    assert where in str(raised.value)
