"""Drives the emulator with the official Kubernetes Python client (Debian's python3-kubernetes) and prints what it
saw as one JSON object, which PythonClientFidelityTests asserts on. Usage: python_client_checks.py KUBECONFIG NS"""
import json
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"


def failure(call):
    try:
        call()
    except ApiException as e:
        body = json.loads(e.body)
        return {"status": e.status, "reason": body.get("reason"), "message": body.get("message")}
    return None


def main(kubeconfig, ns):
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()
    custom = client.CustomObjectsApi()
    seen = {}

    seen["namespaces"] = [n.metadata.name for n in core.list_namespace().items]

    created = core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"mode": "a"}))
    isvc = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "InferenceService", "metadata": {"name": "iris"},
            "spec": {"predictor": {"sklearn": {"storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}}}
    seen["isvc_created"] = custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, isvc)["metadata"]["name"]
    seen["isvc_listed"] = [i["metadata"]["name"] for i in custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"]]

    # Watch from a list's resourceVersion (the client sends watch=True): only what changed after it arrives.
    listed = core.list_namespaced_config_map(ns)
    core.patch_namespaced_config_map("settings", ns, {"data": {"mode": "b"}})
    stream = watch.Watch()
    seen["watch"] = []
    for event in stream.stream(core.list_namespaced_config_map, ns, resource_version=listed.metadata.resource_version, timeout_seconds=30):
        seen["watch"].append([event["type"], event["object"].metadata.name, event["object"].data])
        stream.stop()

    # A write based on a stale resourceVersion is a conflict.
    created.data = {"mode": "stale"}
    seen["conflict"] = failure(lambda: core.replace_namespaced_config_map("settings", ns, created))

    core.delete_namespaced_config_map("settings", ns)
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "iris")
    seen["after_delete"] = failure(lambda: core.read_namespaced_config_map("settings", ns))
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
