"""The Kubernetes manifests in deploy/k8s pass real schema validators: Kubernetes' own schemas
(kubernetes-validate, strict) for the core kinds, and for the KubeRay RayCluster its spec
schema plus Kubernetes' PodTemplateSpec schema for every pod template inside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
jsonschema = pytest.importorskip("jsonschema")

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
VERSION = "1.32.0"  # a Kubernetes release with a KubeRay operator; the schemas ship with the package


def _documents() -> list[tuple[str, dict]]:
    docs = []
    for f in sorted(K8S.glob("*.yaml")):
        docs += [(f.name, d) for d in yaml.safe_load_all(f.read_text()) if d]
    return docs


def _core(docs):
    return [(n, d) for n, d in docs if d["kind"] != "RayCluster"]


def test_the_manifests_hold_every_part_of_a_department_deployment():
    kinds = {d["kind"] for _, d in _documents()}
    assert {"RayCluster", "Deployment", "Service", "Ingress", "ConfigMap",
            "PersistentVolumeClaim"} <= kinds


@pytest.mark.parametrize("name,doc", _core(_documents()),
                         ids=lambda x: x if isinstance(x, str) else x["kind"])
def test_core_kinds_pass_the_kubernetes_schema(name, doc):
    kv.validate(doc, VERSION, strict=True)


def _rayclusters():
    return [d for _, d in _documents() if d["kind"] == "RayCluster"]


def test_the_raycluster_passes_its_schema_and_its_pod_templates_kubernetes():
    schema = json.loads((K8S / "schema" / "raycluster-v1.schema.json").read_text())
    (cluster,) = _rayclusters()
    jsonschema.validate(cluster, schema)
    spec = cluster["spec"]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    for group in groups:
        pod = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
               "template": group["template"]}
        kv.validate(pod, VERSION, strict=True)
    names = [g["groupName"] for g in spec["workerGroupSpecs"]]
    assert names == ["cpu", "gpu"]
    gpu = spec["workerGroupSpecs"][1]["template"]["spec"]["containers"][0]["resources"]
    assert gpu["limits"]["nvidia.com/gpu"] == "1"


def test_a_broken_raycluster_is_refused():
    schema = json.loads((K8S / "schema" / "raycluster-v1.schema.json").read_text())
    (cluster,) = _rayclusters()
    bad = json.loads(json.dumps(cluster))
    bad["spec"]["workerGroupSpecs"][0]["replica"] = 3  # a typo of replicas
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = json.loads(json.dumps(cluster))
    bad["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["port"] = []
    pod = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
           "template": bad["spec"]["headGroupSpec"]["template"]}
    with pytest.raises(kv.ValidationError):
        kv.validate(pod, VERSION, strict=True)


def test_the_configmap_holds_settings_the_app_accepts(tmp_path):
    from bertviz_lite.serve.settings import load_settings

    cm = next(d for _, d in _documents() if d["kind"] == "ConfigMap")
    f = tmp_path / "bertviz.toml"
    f.write_text(cm["data"]["bertviz.toml"])
    s = load_settings(f, env={})
    assert s.backend == "ray" and s.cache_dir.startswith("/shared")
